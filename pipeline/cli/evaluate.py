"""``linewatch evaluate nab|skab|table``: benchmark numbers for the configured detector."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli_options import config_option
from pipeline.errors import PipelineError
from pipeline.evaluation.benchmarks import evaluate_nab, evaluate_skab
from pipeline.evaluation.table import write_table
from pipeline.settings import Settings

__all__ = ["evaluate"]

_dir = click.Path(exists=True, file_okay=False, path_type=Path)
jobs_option = click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes, one file at a time each; the numbers do not depend on it.",
)


@click.group()
def evaluate() -> None:
    """Benchmark the configured detector on NAB or SKAB, strictly online, one config per run.

    Every file is streamed through `linewatch detect` (a fresh detector per file); the scores
    use NAB's rules (normalised, three profiles) or SKAB's (F1, FAR, MAR after each file's
    first 400 rows). Prints the readings per second per core the detector ran at.
    """


@evaluate.command("nab")
@click.option("--data", "data_dir", type=_dir, required=True, help="NAB data folder (data/).")
@click.option(
    "--labels",
    "labels_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="NAB windows file (labels/combined_windows.json).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write each file's detection (with NAB's label column) under this folder.",
)
@config_option
@jobs_option
def nab_command(
    data_dir: Path, labels_file: Path, out_dir: Path | None, config_file: Path | None, jobs: int
) -> None:
    """Normalised NAB scores (standard, reward_low_FP_rate, reward_low_FN_rate).

    NAB's threshold is optimised over the whole corpus per profile (every distinct score is
    tried), as NAB v1.1 does; the scores are normalised over the files given (0 = null
    detector, 100 = perfect).

    Example: linewatch evaluate nab --data nab/data --labels nab/labels/combined_windows.json
    """
    try:
        settings = Settings.load(config_file)
        result = evaluate_nab(data_dir, labels_file, settings, jobs=jobs, out_dir=out_dir)
    except (PipelineError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(result.table())
    click.echo(result.run.summary())


@evaluate.command("skab")
@click.option("--data", "data_dir", type=_dir, required=True, help="SKAB folder, e.g. valve1/.")
@config_option
@jobs_option
def skab_command(data_dir: Path, config_file: Path | None, jobs: int) -> None:
    """SKAB's F1, false alarm rate and missing alarm rate of the alert policy's decisions.

    is_anomaly (1 while an asset's alarm is raised) is compared with each file's `anomaly`
    column after its first 400 rows; counts are pooled over the files before the ratios.
    Files without an `anomaly` column (anomaly-free.csv) are run but not scored.

    Example: linewatch evaluate skab --data skab/valve1
    """
    try:
        result = evaluate_skab(data_dir, Settings.load(config_file), jobs=jobs)
    except (PipelineError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(result.table())
    click.echo(result.run.summary())


@evaluate.command("table")
@click.option(
    "--datasets",
    "datasets_dir",
    type=_dir,
    envvar="LINEWATCH_DATASETS",
    show_envvar=True,
    default="../shared/datasets",
    show_default=True,
    help="Folder holding nab/ and skab/.",
)
@click.option(
    "--nab-config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Settings file for the NAB runs (each detector kind is set on top of it).",
)
@click.option(
    "--skab-config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Settings file for the SKAB runs (each detector kind is set on top of it).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("docs/detectors.md"),
    show_default=True,
    help="Markdown file to write.",
)
@jobs_option
def table_command(
    datasets_dir: Path,
    nab_config: Path | None,
    skab_config: Path | None,
    out: Path,
    jobs: int,
) -> None:
    """Write the results table of every detector kind (NAB three profiles, SKAB valve1).

    Runs `evaluate nab` on nab/data and `evaluate skab` on skab/valve1 once for every value
    of the settings' model.kind, and writes one Markdown table with the scores and rates.

    Example: linewatch evaluate table --jobs 2
    """
    try:
        write_table(datasets_dir, nab_config, skab_config, out, jobs=jobs, echo=click.echo)
    except (PipelineError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"wrote {out}")
