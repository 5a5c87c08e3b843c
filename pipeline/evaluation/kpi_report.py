"""The text ``linewatch evaluate kpi`` prints: the run, the errors side by side, the drivers.

Examples
--------
>>> print(effects_table({"speed": -1.5, "temp": 3.25}, {"speed": -1.0, "temp": 3.0}, "kWh"))
feature  online (kWh per +1 SD)  batch
temp                      +3.25  +3.00
speed                     -1.50  -1.00
"""

from __future__ import annotations

from pipeline.evaluation.kpi import KpiResult, Metrics

__all__ = ["effects_table", "report"]

TARGET_RATIO = 1.10
"""The online test RMSE should be within 10 % of the batch fit's."""
DIVERGED_RATIO = 10.0
"""An online test RMSE this many times the batch fit's means the steps were too large."""


def report(result: KpiResult, train_fraction: float) -> str:
    """Everything printed for one table, in lines."""
    table = result.table
    test_rows = len(table) - result.train_rows
    ratio = result.rmse_ratio
    diverged = not ratio < DIVERGED_RATIO  # NaN included
    time_note = f", in order of {table.timestamp!r}" if table.timestamp else ", in file order"
    lines = [
        f"{table.name}: {len(table):,} rows{time_note}; target {table.target!r}; "
        f"{len(table.features)} feature(s): {', '.join(table.features)}",
    ]
    if table.skipped:
        lines.append(f"skipped {table.skipped:,} row(s) with a missing or non-finite value")
    if table.sorted:
        lines.append(f"the file was not in time order: rows sorted by {table.timestamp!r}")
    lines += [
        f"split: first {result.train_rows:,} rows ({train_fraction:.0%}) train the batch fit, "
        f"the last {test_rows:,} test both",
        "",
        _metrics_table(result),
        "",
        f"online/batch test RMSE: {ratio:{'.3f' if ratio < 1000 else '.3g'}} "
        f"({'within' if ratio <= TARGET_RATIO else 'NOT within'} 10 %)"
        + ("; the online model diverged: lower [kpi] learning_rate" if diverged else ""),
        f"online speed: {result.online.rows_per_second:,.0f} rows/s per core "
        "(predict + learn, CPU time)",
        "",
        "features driving the online prediction, by size of effect:",
        effects_table(result.online.effects, result.batch.effects, table.target),
    ]
    return "\n".join(lines)


def _metrics_table(result: KpiResult) -> str:
    model = result.online.model
    rows: list[tuple[str, Metrics]] = [
        (f"online {model}, prequential, all rows", result.online_all),
        (f"online {model}, prequential, test rows", result.online_test),
        ("batch linear regression, test rows", result.batch_test),
    ]
    width = max(len(label) for label, _ in rows)
    header = f"{'model':<{width}}  {'rows':>9}  {'MAE':>10}  {'RMSE':>10}"
    body = [f"{label:<{width}}  {m.rows:>9,}  {m.mae:>10.4g}  {m.rmse:>10.4g}" for label, m in rows]
    return "\n".join([header, *body])


def effects_table(online: dict[str, float], batch: dict[str, float], target: str) -> str:
    """Features ranked by the size of the online effect, with the batch weight beside it."""
    ranked = sorted(online, key=lambda name: (-abs(online[name]), name))
    title = f"online ({target} per +1 SD)"
    width = max(len("feature"), *(len(name) for name in ranked))
    lines = [f"{'feature':<{width}}  {title}  batch"]
    for name in ranked:
        batch_value = f"{batch[name]:+#.3g}" if name in batch else "-"
        lines.append(f"{name:<{width}}  {online[name]:>+#{len(title)}.3g}  {batch_value}")
    return "\n".join(lines)
