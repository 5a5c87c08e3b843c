"""``linewatch simulate-process``: a production table (process parameters and KPIs) to a file.

Examples
--------
>>> import tempfile, pathlib
>>> from click.testing import CliRunner
>>> out = pathlib.Path(tempfile.mkdtemp()) / "line.csv"
>>> result = CliRunner().invoke(simulate_process, ["--rows", "5", "--out", str(out)])
>>> result.exit_code, len(out.read_text().splitlines())
(0, 6)
"""

from __future__ import annotations

from pathlib import Path

import click

from producers.process_table import ProcessSpec, process_table, write_table

__all__ = ["simulate_process"]


@click.command(
    "simulate-process",
    epilog="""\b
Examples:
  linewatch simulate-process --rows 20000 --out line.csv
  linewatch evaluate kpi line.csv --target energy_kwh_per_t --exclude yield_pct
""",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    metavar="FILE",
    help="Table to write: Parquet if FILE ends in .parquet or .pq, else CSV.",
)
@click.option(
    "--rows",
    type=click.IntRange(min=1),
    default=20_000,
    show_default=True,
    help="Batches (rows) to produce, one every --interval seconds.",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Random seed: same seed, same table."
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="Seconds between batches (the timestamp step, from 2024-01-01T00:00:00Z).",
)
@click.option(
    "--drift",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Scale of the hidden tool wear that slowly raises energy and lowers yield until the "
    "weekly tool change (0: no drift).",
)
@click.option(
    "--noise",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Scale of the KPIs' measurement noise (0: none).",
)
def simulate_process(
    out: Path, rows: int, seed: int, interval: float, drift: float, noise: float
) -> None:
    """Write a simulated production table: one row per batch, parameters then KPIs.

    Columns: timestamp (ISO 8601, UTC), the process parameters temperature_c,
    pressure_bar, line_speed_m_min, feed_rate_kg_h, humidity_pct and material_quality (the
    raw-material lot's index), and the KPIs energy_kwh_per_t and yield_pct. The KPIs
    depend on the parameters mostly linearly, with a temperature x humidity interaction,
    noise and a slow tool-wear drift that no column shows. Deterministic: the same options
    give the same file. Feed it to `linewatch evaluate kpi`.
    """
    table = process_table(
        rows, seed=seed, spec=ProcessSpec(interval_s=interval, drift=drift, noise=noise)
    )
    try:
        write_table(table, out)
    except OSError as exc:
        raise click.ClickException(f"cannot write {out}: {exc}") from exc
    click.echo(f"{rows:,} rows -> {out}", err=True)
