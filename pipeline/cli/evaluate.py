"""``linewatch evaluate nab|skab|supervised|kpi|table``: benchmark numbers of the models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click

from pipeline.cli_options import config_option
from pipeline.errors import PipelineError
from pipeline.evaluation.benchmarks import evaluate_nab, evaluate_skab
from pipeline.evaluation.failures import failure_fleet
from pipeline.evaluation.kpi import evaluate_kpi
from pipeline.evaluation.kpi_report import report
from pipeline.evaluation.kpi_table import TIME_COLUMNS, read_table
from pipeline.evaluation.supervised import read_records, run_supervised
from pipeline.evaluation.table import write_table
from pipeline.messages import Label, Reading
from pipeline.settings import Settings
from producers.files import labels_path
from producers.wear import Wear

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
    """Benchmark the configured models on recorded files, strictly online, one config per run.

    nab, skab, table: every file is streamed through `linewatch detect` (a fresh detector per
    file); the scores use NAB's rules (normalised, three profiles) or SKAB's (F1, FAR, MAR
    after each file's first 400 rows). Prints the readings per second per core the detector
    ran at. kpi: an online regressor of a process KPI against a batch linear regression.
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


@evaluate.command("supervised")
@click.argument(
    "readings", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=False
)
@click.option(
    "--labels",
    "labels_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Labels table (asset, ts, kind[, fault]).  [default: READINGS.labels.* beside it]",
)
@click.option(
    "--simulate",
    "simulate",
    default=None,
    metavar="ASSETS:HOURS",
    help="Instead of a file: a simulated fleet that fails again and again (in memory).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of --simulate.")
@click.option(
    "--after-failures",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="Also report the prequential metrics after the fleet's first N failures.",
)
@click.option(
    "--lead-window",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="SECONDS",
    help="An alert at most this long before a failure warns of it.  [default: the horizon]",
)
@click.option(
    "--wear",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    metavar="SECONDS",
    help="--simulate: slow wear (P-F interval) this long before every failing fault.",
)
@click.option(
    "--wear-sd",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="--simulate: the wear's drift at the fault's onset, in per-reading noise sds.",
)
@click.option(
    "--wear-shape",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="--simulate: the wear's growth, (elapsed/wear)**shape (1 linear, 2 accelerating).",
)
@click.option(
    "--gap",
    type=click.FloatRange(min=0, min_open=True),
    default=900.0,
    show_default=True,
    metavar="SECONDS",
    help="--simulate: mean healthy running between a restart and the next wear or fault.",
)
@config_option
def supervised_command(
    readings: Path | None,
    labels_file: Path | None,
    simulate: str | None,
    seed: int,
    after_failures: int,
    lead_window: float | None,
    wear: float,
    wear_sd: float,
    wear_shape: float,
    gap: float,
    config_file: Path | None,
) -> None:
    """Failure prediction on readings with labels, strictly online (test-then-train).

    Streams READINGS (a wide CSV/Parquet table such as `linewatch simulate --out` writes)
    and its labels in timestamp order through the service's processor with the supervised
    models on ([supervised] settings), and prints the prequential ROC AUC, precision,
    recall, F1, RUL MAE/RMSE, and for the detector's alerts and the fault-probability
    alerts alike: the median warning lead time before a failure and the false alarms per
    asset-day.

    Example: linewatch evaluate supervised run.csv --labels run.labels.csv --config sup.toml
    """
    try:
        settings = Settings.load(config_file)
        simulation = (simulate, seed, Wear(wear, wear_sd, wear_shape), gap)
        records, settings = _supervised_records(readings, labels_file, simulation, settings)
        result = run_supervised(records, settings, after_failures, lead_window)
    except (PipelineError, OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(result.table())


def _supervised_records(
    readings: Path | None,
    labels_file: Path | None,
    simulation: tuple[str | None, int, Wear, float],
    settings: Settings,
) -> tuple[Iterator[Reading | Label], Settings]:
    """The records to evaluate, and the settings (with the simulated fleet's machine types)."""
    simulate, seed, wear, gap = simulation
    if simulate is not None:
        assets, _, hours = simulate.partition(":")
        duration = float(hours or 1) * 3600
        fleet, records = failure_fleet(int(assets), duration, seed, gap_s=gap, wear=wear)
        if not settings.supervised.machine_types:
            types = dict(zip(fleet.names, fleet.types, strict=True))
            supervised = settings.supervised.model_copy(update={"machine_types": types})
            settings = settings.model_copy(update={"supervised": supervised})
        return records, settings
    if readings is None:
        raise click.UsageError("give a READINGS file or --simulate ASSETS:HOURS")
    return read_records(readings, labels_file or labels_path(readings)), settings


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


def _columns(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> tuple[str, ...] | None:
    if value is None:
        return None
    names = tuple(name.strip() for name in value.split(",") if name.strip())
    if not names:
        raise click.BadParameter("name at least one column", ctx=ctx, param=param)
    return names


@evaluate.command(
    "kpi",
    epilog="""\b
Examples:
  linewatch simulate-process --rows 20000 --out line.csv
  linewatch evaluate kpi line.csv --target energy_kwh_per_t --exclude yield_pct
  linewatch evaluate kpi plant.parquet --target yield --features temp,pressure,speed \\
      --model bayesian
""",
)
@click.argument("table_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--target", required=True, help="Column to predict (yield, energy, quality, ...).")
@click.option(
    "--features",
    callback=_columns,
    default=None,
    metavar="COL[,COL...]",
    help="Input columns.  [default: every other column but the timestamp and --exclude]",
)
@click.option(
    "--exclude",
    callback=_columns,
    default=None,
    metavar="COL[,COL...]",
    help="Columns never used as features (other KPIs, identifiers).",
)
@click.option(
    "--timestamp",
    default=None,
    metavar="COL",
    help=f"Time column; rows are replayed in its order.  [default: the first of "
    f"{', '.join(TIME_COLUMNS)} present, else file order]",
)
@click.option(
    "--train-fraction",
    type=click.FloatRange(min=0, max=1, min_open=True, max_open=True),
    default=0.7,
    show_default=True,
    help="Leading share of the rows the batch linear regression is fitted on; the rest are "
    "the test rows both models are scored on.",
)
@click.option(
    "--model",
    type=click.Choice(["sgd", "adam", "bayesian"]),
    default=None,
    help="Online regressor (overrides the settings' kpi.model).  [default: sgd]",
)
@config_option
def kpi_command(
    table_file: Path,
    target: str,
    features: tuple[str, ...] | None,
    exclude: tuple[str, ...] | None,
    timestamp: str | None,
    train_fraction: float,
    model: str | None,
    config_file: Path | None,
) -> None:
    """Replay a production table through an online regressor of a process KPI.

    TABLE_FILE (CSV, or Parquet for .parquet/.pq) has one row per unit or batch: process
    parameters, the target KPI and optionally a timestamp. Strictly online, each row is
    predicted, then learned, before the next is read (prequential, test-then-train). Prints
    the online model's MAE and RMSE over all rows and over the test rows, next to an ordinary
    least-squares fit on standardised features trained on the first --train-fraction of the
    rows and scored on the same test rows, their RMSE ratio, rows/s, and the features that
    drive the prediction (the change of the KPI per +1 standard deviation of each). Rows with
    a missing value are skipped and counted. The online model is the settings' [kpi] section
    (model = sgd, adam or bayesian; learning_rate, l2, smoothing).
    """
    try:
        overrides = {"kpi": {"model": model}} if model else {}
        settings = Settings.load(config_file, **overrides)
        table = read_table(table_file, target, features, exclude or (), timestamp)
        result = evaluate_kpi(table, settings.kpi, train_fraction, progress=True)
    except (PipelineError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(report(result, train_fraction))
