"""Render the linewatch dashboard to a PNG from a live Prometheus, with the dashboard's queries.

Every panel of ``dashboards/linewatch.json`` is drawn where its ``gridPos`` puts it, from the
same PromQL, evaluated through Prometheus's HTTP API (``/api/v1/query_range``). It is a
picture of what Grafana shows, for the README and for people without Grafana:

    python deploy/grafana/render.py --prometheus http://localhost:9090 --asset asset-003 \\
        --minutes 15 --out docs/dashboard.png

``scripts/render-dashboard`` makes the README's picture this way from a local run (broker,
simulator with a fault, service and Prometheus), through tests/integration/test_observability.py.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import time
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

__all__ = ["Series", "expand", "query_range", "render"]

DASHBOARD = Path(__file__).resolve().parent / "dashboards" / "linewatch.json"
Series = tuple[str, list[float], list[float]]  # (legend, epoch seconds, values)
_ROW_UNITS = 0.42  # inches per grid row
_COL_UNITS = 0.8  # inches per grid column
_COLORS = ["#73bf69", "#f2cc0c", "#5794f2", "#ff780a", "#b877d9", "#f2495c", "#8ab8ff", "#ccc"]


def expand(expr: str, asset: str, rate_interval: str) -> str:
    """Substitute the dashboard variables Grafana would fill in.

    >>> expand('rate(x{asset="$asset"}[$__rate_interval])', "a-1", "30s")
    'rate(x{asset="a-1"}[30s])'
    """
    return expr.replace("$__rate_interval", rate_interval).replace("$asset", asset)


def query_range(
    prometheus: str, expr: str, start: float, end: float, step: float
) -> list[dict[str, Any]]:
    """The ``result`` of ``/api/v1/query_range`` (a list of ``{metric, values}``)."""
    params = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(f"{prometheus}/api/v1/query_range?{params}", timeout=30) as rsp:
        body = json.loads(rsp.read())
    if body.get("status") != "success":
        raise RuntimeError(f"{expr}: {body}")
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def _legend(template: str, labels: dict[str, str]) -> str:
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), template)


def panel_series(
    panel: dict[str, Any], prometheus: str, asset: str, window: tuple[float, float, float]
) -> list[Series]:
    """Every series of every target of ``panel`` over ``window`` (start, end, step)."""
    start, end, step = window
    rate_interval = f"{max(int(4 * step), 15)}s"
    series: list[Series] = []
    for target in panel["targets"]:
        expr = expand(target["expr"], asset, rate_interval)
        for item in query_range(prometheus, expr, start, end, step):
            times = [float(t) for t, _ in item["values"]]
            values = [float(v) for _, v in item["values"]]
            legend = _legend(target.get("legendFormat", ""), item["metric"]) or expr
            series.append((legend, times, values))
    return series


def _last(values: Sequence[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return finite[-1] if finite else math.nan


def _number(value: float, unit: str) -> str:
    if math.isnan(value):
        return "–"
    if unit == "percentunit":
        return f"{value:.0%}"
    if unit == "s":
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"
    return f"{value:,.0f}" if abs(value) >= 10 or value == int(value) else f"{value:.2f}"


def _draw_stat(ax: Axes, series: list[Series], unit: str, red_at: float | None) -> None:
    value = sum(_last(values) for _, _, values in series) if series else math.nan
    color = "#f2495c" if red_at is not None and value >= red_at else "#73bf69"
    ax.text(0.5, 0.4, _number(value, unit), ha="center", va="center", fontsize=26, color=color)
    ax.set_axis_off()


def _draw_table(ax: Axes, series: list[Series]) -> None:
    rows = [(legend, _last(values)) for legend, _, values in series]
    rows = [(name, level) for name, level in rows if not math.isnan(level)]
    if not rows:
        ax.text(0.5, 0.5, "no machine in alarm", ha="center", va="center", color="#73bf69")
    for index, (name, level) in enumerate(sorted(rows)):
        severity = "HIGH" if level >= 2 else "low"
        ax.text(0.05, 0.85 - index * 0.12, f"● {name}", color="#f2495c", fontsize=13)
        ax.text(0.7, 0.85 - index * 0.12, severity, color="#f2495c", fontsize=13)
    ax.set_axis_off()


def _draw_bars(ax: Axes, series: list[Series]) -> None:
    bars = sorted(((legend, _last(values)) for legend, _, values in series), key=lambda b: b[1])
    names, values = [b[0] for b in bars], [b[1] for b in bars]
    colors = ["#f2495c" if v >= 0.99 else "#f2cc0c" if v >= 0.9 else "#73bf69" for v in values]
    ax.barh(names, values, color=colors)
    ax.set_xlim(0, 1)
    ax.tick_params(labelsize=7)


def _draw_lines(ax: Axes, series: list[Series], end: float, step: bool, log: bool) -> None:
    for index, (legend, times, values) in enumerate(series[:12]):
        minutes = [(t - end) / 60 for t in times]
        draw = ax.step if step else ax.plot
        draw(minutes, values, label=legend, color=_COLORS[index % len(_COLORS)], linewidth=1.3)
    if series:
        ax.legend(fontsize=6, loc="upper left", ncol=2, framealpha=0.3)
    if log and series:
        ax.set_yscale("log")
    ax.set_xlabel("minutes before now", fontsize=7)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.2)


def _axes(fig: Any, pos: dict[str, int], height: int) -> Axes:
    left, width = pos["x"] / 24 + 0.03, pos["w"] / 24 - 0.036
    bottom = 1 - (pos["y"] + pos["h"]) / height + 0.012
    axes: Axes = fig.add_axes((left, bottom, width, pos["h"] / height - 0.045))
    axes.set_facecolor("#181b1f")
    return axes


def render(
    prometheus: str,
    out: Path,
    asset: str,
    minutes: float = 15.0,
    dashboard: Path = DASHBOARD,
    end: float | None = None,
) -> Path:
    """Query every panel of ``dashboard`` over the last ``minutes`` and write ``out`` (PNG)."""
    model = json.loads(dashboard.read_text(encoding="utf-8"))
    panels = model["panels"]
    height = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
    end = time.time() if end is None else end
    window = (end - minutes * 60, end, max(minutes * 60 / 240, 1.0))
    plt.style.use("dark_background")
    fig = plt.figure(figsize=(24 * _COL_UNITS, height * _ROW_UNITS), facecolor="#111217")
    for panel in panels:
        title = panel["title"].replace("$asset", asset)
        pos = panel["gridPos"]
        if panel["type"] == "row":
            fig.text(0.005, 1 - (pos["y"] + 0.8) / height, title, fontsize=13, weight="bold")
            continue
        ax = _axes(fig, pos, height)
        ax.set_title(title, fontsize=9, loc="left")
        series = panel_series(panel, prometheus, asset, window)
        _draw(ax, panel, series, end)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80, facecolor=fig.get_facecolor())
    plt.close(fig)
    return out


def _draw(ax: Axes, panel: dict[str, Any], series: list[Series], end: float) -> None:
    defaults = panel["fieldConfig"]["defaults"]
    kind, unit = panel["type"], defaults.get("unit", "short")
    if kind == "stat":
        steps = defaults.get("thresholds", {}).get("steps", [])
        red_at = steps[-1]["value"] if len(steps) > 1 else None
        _draw_stat(ax, series, unit, red_at)
    elif kind == "table":
        _draw_table(ax, series)
    elif kind == "bargauge":
        _draw_bars(ax, series)
    else:
        log = defaults.get("custom", {}).get("scaleDistribution", {}).get("type") == "log"
        _draw_lines(ax, series, end, step=kind == "state-timeline", log=log)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prometheus", default="http://localhost:9090")
    parser.add_argument("--asset", default="asset-003", help="the $asset of the drill-down")
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--out", type=Path, default=Path("docs/dashboard.png"))
    args = parser.parse_args(argv)
    print(render(args.prometheus, args.out, args.asset, args.minutes))


if __name__ == "__main__":
    main()
