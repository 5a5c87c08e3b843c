"""The two benchmarks end to end: detect on every file, then score with NAB's or SKAB's rules."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import DatasetError
from pipeline.evaluation import nab, skab
from pipeline.evaluation.runner import Run, discover, run_files
from pipeline.settings import Settings

__all__ = ["NabResult", "SkabResult", "evaluate_nab", "evaluate_skab"]


@dataclass(frozen=True)
class NabResult:
    """Normalised NAB scores per profile, and the run that produced them."""

    scores: dict[str, nab.ProfileScore]
    windows: int
    run: Run

    def table(self) -> str:
        lines = [
            f"NAB: {len(self.run.files)} files, {self.windows} windows, {self.run.rows:,} readings",
            f"{'profile':<20} {'score':>7}  threshold",
        ]
        for profile, score in self.scores.items():
            lines.append(f"{profile:<20} {score.normalised:7.2f}  {score.threshold:.6g}")
        return "\n".join(lines)


@dataclass(frozen=True)
class SkabResult:
    """SKAB's pooled outlier-detection counts, and the run that produced them."""

    counts: skab.Confusion
    scored_files: int
    run: Run

    def table(self) -> str:
        c = self.counts
        return "\n".join(
            [
                f"SKAB: {self.scored_files} anomalous files, first {skab.WARMUP_ROWS} rows of "
                f"each not scored; {c.tp + c.fp + c.tn + c.fn:,} rows scored",
                f"F1  {c.f1:.3f}",
                f"FAR {c.far:.2f} %",
                f"MAR {c.mar:.2f} %",
            ]
        )


def evaluate_nab(
    data_dir: Path,
    labels_file: Path,
    settings: Settings,
    *,
    jobs: int = 1,
    progress: bool = True,
    out_dir: Path | None = None,
) -> NabResult:
    """Detect on every CSV under ``data_dir`` and score it against ``labels_file``'s windows."""
    if not labels_file.is_file():
        raise DatasetError(f"labels file not found: {labels_file}")
    windows = nab.load_windows(labels_file)
    files = discover(data_dir)
    unlabelled = [name for name, _ in files if name not in windows]
    if unlabelled:
        raise DatasetError(
            f"{len(unlabelled)} file(s) have no entry in {labels_file}: {', '.join(unlabelled[:3])}"
        )
    run = run_files(files, "nab", settings, jobs=jobs, progress=progress)
    results = {}
    for result in run.files:
        frame = result.detection.frame
        stamps = frame["timestamp"].tolist()
        results[result.name] = (stamps, frame["anomaly_score"].to_numpy())
        if out_dir is not None:
            frame = frame.assign(label=nab.window_labels(stamps, windows[result.name]))
            target = out_dir / result.name
            target.parent.mkdir(parents=True, exist_ok=True)
            frame.to_csv(target, index=False)
    scores = nab.score_corpus(results, windows, nab.PROFILES)
    n_windows = sum(len(windows[name]) for name in results)
    return NabResult(scores, n_windows, run)


def evaluate_skab(
    data_dir: Path, settings: Settings, *, jobs: int = 1, progress: bool = True
) -> SkabResult:
    """Detect on every CSV under ``data_dir``; pool F1/FAR/MAR over the files with labels."""
    run = run_files(discover(data_dir), "skab", settings, jobs=jobs, progress=progress)
    labelled = [r for r in run.files if "anomaly" in r.detection.frame.columns]
    if not labelled:
        raise DatasetError(f"no file under {data_dir} has an 'anomaly' column")
    counts = skab.pooled(
        (r.detection.frame["anomaly"].to_numpy(), r.detection.frame["is_anomaly"].to_numpy())
        for r in labelled
    )
    return SkabResult(counts, len(labelled), run)
