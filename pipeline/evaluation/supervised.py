"""Failure prediction over a labelled stream: prequential metrics, lead times, false alarms.

:func:`run_supervised` streams readings and labels (in timestamp order) through the service's
own :class:`~pipeline.processor.Processor` with the supervised models on, strictly online, and
scores two alarm sources the same way, the unsupervised detector's alerts and the alerts on
the fault probability:

- a raised alert *warns* of a failure when it comes at most ``lead_window_s`` before it (and
  after the asset's previous repair); the **lead time** of a failure is the time from its
  first warning to the failure (0 when none came);
- every other raised alert outside a standstill (failure to maintenance) is a **false
  alarm**, counted per asset-day of event time.

The prequential metrics (ROC AUC, precision, recall, F1, RUL MAE/RMSE) are those of the
supervisor, and again counted only after the fleet's first ``after_failures`` failures.
"""

from __future__ import annotations

import copy
import math
import statistics
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pipeline.messages import Label, Reading
from pipeline.processor import Processor
from pipeline.settings import Settings
from pipeline.supervised.prequential import Prequential

__all__ = ["AlarmStats", "SupervisedRun", "alarm_stats", "read_records", "run_supervised"]

_DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class AlarmStats:
    """How one alarm source did: lead time per failure, false alarms per asset-day."""

    leads_s: list[float]
    false_alarms: int
    asset_days: float

    @property
    def median_lead_s(self) -> float:
        """Median lead time over the failures (0 for an unwarned one)."""
        return float(statistics.median(self.leads_s)) if self.leads_s else math.nan

    @property
    def warned(self) -> int:
        """Failures with a warning."""
        return sum(lead > 0 for lead in self.leads_s)

    @property
    def false_alarms_per_asset_day(self) -> float:
        """False alarms per asset-day of event time."""
        return self.false_alarms / self.asset_days if self.asset_days else math.nan


@dataclass(slots=True)
class SupervisedRun:
    """Everything :func:`run_supervised` measured."""

    readings: int = 0
    failures: int = 0
    prequential: Prequential = field(default_factory=Prequential)
    baseline: Prequential = field(default_factory=Prequential)
    """The detector's score alone taken as the fault probability, scored the same way."""
    baseline_after: Prequential = field(default_factory=Prequential)
    after: Prequential = field(default_factory=Prequential)
    """Prequential metrics after the first ``after_failures`` failures of the fleet."""
    after_failures: int = 0
    detector: AlarmStats = field(default_factory=lambda: AlarmStats([], 0, 0.0))
    supervised: AlarmStats = field(default_factory=lambda: AlarmStats([], 0, 0.0))

    def table(self) -> str:
        """The numbers as a small text table."""
        p, a = self.prequential, self.after
        rows = [
            ("readings, failures", f"{self.readings}, {self.failures}"),
            (f"ROC AUC (all / after failure {self.after_failures})",
             f"{p.roc_auc:.3f} / {a.roc_auc:.3f}"),
            ("ROC AUC of the detector's score alone",
             f"{self.baseline.roc_auc:.3f} / {self.baseline_after.roc_auc:.3f}"),
            ("precision, recall, F1", f"{p.precision:.3f}, {p.recall:.3f}, {p.f1:.3f}"),
            ("RUL MAE, RMSE (s)", f"{p.mae_s:.1f}, {p.rmse_s:.1f}"),
        ]  # fmt: skip
        for name, stats in (("detector", self.detector), ("supervised", self.supervised)):
            rows.append(
                (
                    f"{name}: median lead (s), warned, false alarms/asset-day",
                    f"{stats.median_lead_s:.1f}, {stats.warned}/{len(stats.leads_s)}, "
                    f"{stats.false_alarms_per_asset_day:.2f}",
                )
            )
        width = max(len(name) for name, _ in rows)
        return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def run_supervised(
    records: Iterable[Reading | Label],
    settings: Settings,
    after_failures: int = 10,
    lead_window_s: float | None = None,
) -> SupervisedRun:
    """Stream ``records`` (timestamp order) through the processor; measure both alarm sources.

    ``lead_window_s`` (default: the supervised horizon) is how long before a failure an alert
    still counts as its warning.
    """
    if not settings.supervised.enabled:
        settings = settings.model_copy(
            update={"supervised": settings.supervised.model_copy(update={"enabled": True})}
        )
    processor = Processor(settings)
    supervisor = processor.supervisor
    assert supervisor is not None
    run = SupervisedRun(after_failures=after_failures)
    raised: dict[str, dict[str, list[int]]] = {"detector": {}, "supervised": {}}
    events: dict[str, list[Label]] = {}
    spans: dict[str, list[int]] = {}
    at_after: tuple[Prequential, Prequential] | None = None
    for record in records:
        if isinstance(record, Label):
            supervisor.on_label(record)
            events.setdefault(record.asset, []).append(record)
            if record.kind == "failure":
                run.failures += 1
                if run.failures == after_failures:
                    at_after = copy.deepcopy((supervisor.prequential, supervisor.baseline))
            continue
        outcome = processor.process_reading(record)
        if outcome.score is None:
            continue
        run.readings += 1
        span = spans.setdefault(record.asset, [record.ts, record.ts])
        span[1] = record.ts
        for source, alert in (("detector", outcome.alert), ("supervised", outcome.fault_alert)):
            if alert is not None and alert.state == "raised":
                raised[source].setdefault(record.asset, []).append(alert.ts)
    run.prequential, run.baseline = supervisor.prequential, supervisor.baseline
    run.after = _since(supervisor.prequential, at_after and at_after[0])
    run.baseline_after = _since(supervisor.baseline, at_after and at_after[1])
    window_ms = int(1000 * (lead_window_s or settings.supervised.horizon_s))
    days = sum(end - start for start, end in spans.values()) / _DAY_MS
    run.detector = alarm_stats(raised["detector"], events, window_ms, days)
    run.supervised = alarm_stats(raised["supervised"], events, window_ms, days)
    return run


def alarm_stats(
    raised: dict[str, list[int]], events: dict[str, list[Label]], window_ms: int, days: float
) -> AlarmStats:
    """Lead times and false alarms of alerts ``raised`` (times per asset), given the labels.

    >>> labels = {"a": [Label("a", 100_000, "failure"), Label("a", 200_000, "maintenance")]}
    >>> stats = alarm_stats({"a": [10_000, 60_000, 150_000, 300_000]}, labels, 50_000, 1.0)
    >>> stats.leads_s, stats.false_alarms
    ([40.0], 2)
    """
    leads: list[float] = []
    false_alarms = 0
    for asset in sorted(set(raised) | set(events)):
        times = sorted(raised.get(asset, []))
        used: set[int] = set()
        repaired = -1
        for label in events.get(asset, []):
            if label.kind == "maintenance":
                repaired = label.ts
            if label.kind != "failure":
                continue
            start = max(label.ts - window_ms, repaired)
            warnings = [t for t in times if start <= t <= label.ts]
            leads.append((label.ts - warnings[0]) / 1000.0 if warnings else 0.0)
            used.update(warnings)
            repaired = label.ts
        false_alarms += sum(1 for t in times if t not in used and not _down(t, events, asset))
    return AlarmStats(leads, false_alarms, days)


def _down(ts: int, events: dict[str, list[Label]], asset: str) -> bool:
    failure = -1
    for label in events.get(asset, []):
        if label.ts > ts:
            break
        if label.kind in ("failure", "maintenance"):
            failure = label.ts if label.kind == "failure" else -1
    return failure >= 0


def _since(now: Prequential, then: Prequential | None) -> Prequential:
    if then is None:
        return Prequential(now.threshold, now.bins)
    result = copy.deepcopy(now)
    result.positives = [a - b for a, b in zip(now.positives, then.positives, strict=True)]
    result.negatives = [a - b for a, b in zip(now.negatives, then.negatives, strict=True)]
    result.tp, result.fp = now.tp - then.tp, now.fp - then.fp
    result.fn, result.tn = now.fn - then.fn, now.tn - then.tn
    result.abs_error = now.abs_error - then.abs_error
    result.sq_error = now.sq_error - then.sq_error
    result.n_regression = now.n_regression - then.n_regression
    result.leads = now.leads[len(then.leads) :]
    return result


def read_records(readings: Path, labels: Path) -> Iterator[Reading | Label]:
    """Readings of a wide table (``simulate --out``) and its labels, merged in timestamp order.

    A label comes before the readings of its timestamp, as the simulator sends them.
    """
    from producers.replay.labels import load_label_file

    frame = load_table(readings)
    missing = {"asset", "ts"} - set(frame.columns)
    if missing:
        raise ValueError(f"{readings}: needs columns asset and ts (missing {sorted(missing)})")
    channels = [c for c in frame.columns if c not in ("asset", "ts", "seq", "line")]
    stream = sorted(load_label_file(labels, readings, None), key=lambda label: label.ts)
    ts = frame["ts"].to_numpy(dtype="int64").tolist()
    assets = frame["asset"].astype(str).tolist()
    seqs = frame["seq"].tolist() if "seq" in frame.columns else [None] * len(ts)
    values = frame[channels].to_numpy(dtype="float64").tolist()
    index = 0
    for row, stamp in enumerate(ts):
        while index < len(stream) and stream[index].ts <= stamp:
            yield stream[index]
            index += 1
        seq = seqs[row]
        yield Reading(assets[row], stamp, dict(zip(channels, values[row], strict=True)),
                      None if seq is None or seq != seq else int(seq))  # fmt: skip
    yield from stream[index:]


def load_table(path: Path) -> pd.DataFrame:
    """A CSV or Parquet table."""
    if path.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(path)
    return pd.read_csv(path)
