"""Generate the linewatch Grafana dashboard (``dashboards/linewatch.json``) from this file.

Run ``python deploy/grafana/dashboard.py`` after editing a panel; ``tests/test_dashboard.py``
fails while the JSON differs from what this file generates. Three parts: a plant overview
(alarms now and over time, most anomalous assets, throughput, lag, latency, dead letters,
state), a drill-down on one machine chosen with the ``$asset`` variable (its score
against its threshold, its channels, its alarm), and the supervised failure prediction
(prequential quality, warning lead time, RUL error, labels).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["ALERT_PANEL", "build", "main"]

OUT = Path(__file__).resolve().parent / "dashboards" / "linewatch.json"
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
#: Title of the panel that lists the assets in alarm (the end-to-end test looks it up).
ALERT_PANEL = "Assets in alarm now"
RATE = "$__rate_interval"

Target = tuple[str, str]  # (PromQL, legend)


def _panel(
    kind: str,
    title: str,
    description: str,
    targets: list[Target],
    pos: tuple[int, int, int, int],
    unit: str = "short",
    options: dict[str, Any] | None = None,
    defaults: dict[str, Any] | None = None,
) -> dict[str, Any]:
    x, y, w, h = pos
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {"defaults": {"unit": unit, **(defaults or {})}, "overrides": []},
        "options": options or {},
        "targets": [
            {
                "datasource": DATASOURCE,
                "refId": chr(ord("A") + index),
                "expr": expr,
                "legendFormat": legend,
                **({"instant": True, "format": "table"} if kind in ("table",) else {}),
            }
            for index, (expr, legend) in enumerate(targets)
        ],
    }


def _row(title: str, y: int) -> dict[str, Any]:
    return {
        "type": "row",
        "title": title,
        "collapsed": False,
        "gridPos": {"x": 0, "y": y, "w": 24, "h": 1},
        "panels": [],
    }


def _stat(title: str, description: str, expr: str, x: int, unit: str, red_at: float | None):
    steps: list[dict[str, Any]] = [{"color": "green", "value": None}]
    if red_at is not None:
        steps.append({"color": "red", "value": red_at})
    return _panel(
        "stat",
        title,
        description,
        [(expr, title)],
        (x, 1, 4, 4),
        unit,
        {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}},
        {"thresholds": {"mode": "absolute", "steps": steps}},
    )


def _quantiles(metric: str) -> list[Target]:
    return [
        (f"histogram_quantile({q}, sum by (le) (rate({metric}_bucket[{RATE}])))", f"p{label}")
        for q, label in ((0.5, "50"), (0.99, "99"))
    ]


def overview() -> list[dict[str, Any]]:
    """The plant overview: one look tells whether a machine needs attention."""
    valid = 'linewatch_readings_total{outcome="valid"}'
    return [
        _row("Plant overview", 0),
        _stat("Assets in alarm", "Alarms raised and not cleared.", "sum(linewatch_alerts_active)",
              0, "short", 1),
        _stat("Readings/s", "Valid readings scored per second.",
              f"sum(rate({valid}[{RATE}]))", 4, "reqps", None),
        _stat("Dead letters/s", "Messages the service could not use, per second.",
              f"sum(rate(linewatch_deadletters_total[{RATE}]))", 8, "reqps", 0.1),
        _stat("Consumer lag", "Readings waiting in Kafka for the service.",
              "sum(linewatch_consumer_lag_messages)", 12, "short", 1000),
        _stat("Models held", "Machines with a model in memory.", "sum(linewatch_models)",
              16, "short", None),
        _stat("Producer delivery errors", "Readings producers failed to deliver (range).",
              f"sum(increase(linewatch_producer_delivery_errors_total[{RATE}]))", 20, "short", 1),
        _panel("table", ALERT_PANEL,
               "Machines whose alarm is raised (1 low, 2 high severity). Click through with "
               "the asset variable above.",
               [("max by (asset) (linewatch_asset_alarm) > 0", "{{asset}}")], (0, 5, 8, 8)),
        _panel("bargauge", "Most anomalous assets", "Latest calibrated score, top 10.",
               [("topk(10, max by (asset) (linewatch_asset_score))", "{{asset}}")],
               (8, 5, 8, 8), "percentunit",
               {"orientation": "horizontal", "displayMode": "gradient",
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}},
               {"min": 0, "max": 1}),
        _panel("timeseries", "Alerts over time", "Alarm state changes by state and severity.",
               [(f"sum by (state, severity) (increase(linewatch_alerts_total[{RATE}]))",
                 "{{state}} {{severity}}")], (16, 5, 8, 8)),
        _panel("timeseries", "Throughput",
               "Readings sent by producers, consumed by outcome, and scores produced.",
               [(f"sum(rate(linewatch_producer_readings_sent_total[{RATE}]))", "sent"),
                (f"sum by (outcome) (rate(linewatch_readings_total[{RATE}]))", "{{outcome}}"),
                (f"sum(rate(linewatch_scores_total[{RATE}]))", "scores")],
               (0, 13, 8, 8), "reqps"),
        _panel("timeseries", "Consumer lag by partition", "Readings waiting, per partition.",
               [("sum by (partition) (linewatch_consumer_lag_messages)", "p{{partition}}")],
               (8, 13, 8, 8)),
        _panel("timeseries", "Dead letters by reason", "Why messages were dead-lettered.",
               [(f"sum by (reason) (rate(linewatch_deadletters_total[{RATE}]))", "{{reason}}")],
               (16, 13, 8, 8), "reqps"),
        _panel("timeseries", "Processing latency", "Time to process one batch, decode to commit.",
               _quantiles("linewatch_process_seconds"), (0, 21, 8, 8), "s"),
        _panel("timeseries", "Event-time lag", "When a reading was scored minus its timestamp.",
               _quantiles("linewatch_event_lag_seconds"), (8, 21, 8, 8), "s"),
        _panel("timeseries", "State snapshots and drift",
               "Snapshots written and their p99 duration; concept drift detections.",
               [(f"sum(rate(linewatch_snapshot_seconds_count[{RATE}]))", "snapshots/s"),
                (f"histogram_quantile(0.99, sum by (le) "
                 f"(rate(linewatch_snapshot_seconds_bucket[{RATE}])))", "p99 snapshot s"),
                (f"sum(increase(linewatch_drift_events_total[{RATE}]))", "drift events")],
               (16, 21, 8, 8)),
    ]  # fmt: skip


def drilldown() -> list[dict[str, Any]]:
    """One machine, chosen with ``$asset``: why is it (not) in alarm?"""
    asset = 'asset="$asset"'
    return [
        _row("Asset $asset", 29),
        _panel("timeseries", "$asset: score and threshold",
               "Calibrated anomaly score against the alarm threshold.",
               [(f"max(linewatch_asset_score{{{asset}}})", "score"),
                (f"max(linewatch_asset_threshold{{{asset}}})", "threshold")],
               (0, 30, 12, 9), "percentunit", defaults={"min": 0, "max": 1}),
        _panel("state-timeline", "$asset: alarm", "0 normal, 1 raised (low), 2 raised (high).",
               [(f"max(linewatch_asset_alarm{{{asset}}})", "alarm")], (12, 30, 12, 9)),
        _panel("timeseries", "$asset: channels",
               "Latest value of every channel (log scale: channels differ in magnitude).",
               [(f"max by (channel) (linewatch_asset_channel_value{{{asset}}})", "{{channel}}")],
               (0, 39, 24, 10),
               defaults={"custom": {"scaleDistribution": {"type": "log", "log": 10}}}),
    ]  # fmt: skip


def supervised() -> list[dict[str, Any]]:
    """Failure prediction from labels (``[supervised]``): how good, how early, how often."""
    quality = [
        (f"max(linewatch_supervised_{name})", name)
        for name in ("roc_auc", "precision", "recall", "f1")
    ]
    return [
        _row("Failure prediction (supervised)", 49),
        _panel("timeseries", "Prequential classifier quality",
               "Failure-within-horizon classifier, test-then-train since the service started: "
               "ROC AUC, and precision/recall/F1 of fault_probability >= the alert threshold.",
               quality, (0, 50, 8, 8), "percentunit", defaults={"min": 0, "max": 1}),
        _panel("timeseries", "Warning lead time",
               "Time from the first fault alert to the failure it warned of (p50, p99), and "
               "failures per interval with and without a warning.",
               _quantiles("linewatch_supervised_lead_time_seconds")
               + [(f"sum by (warned) (increase(linewatch_supervised_failures_total[{RATE}]))",
                   "failures warned={{warned}}")],
               (8, 50, 8, 8), "s"),
        _panel("timeseries", "Remaining useful life error",
               "Prequential MAE and RMSE of rul_hours.",
               [("max(linewatch_supervised_rul_mae_hours)", "MAE"),
                ("max(linewatch_supervised_rul_rmse_hours)", "RMSE")], (16, 50, 8, 8), "h"),
        _panel("timeseries", "Labels, targets and fault alerts",
               "Labels consumed by kind, buffered readings learned by target, fault alerts.",
               [(f"sum by (kind) (rate(linewatch_supervised_labels_total[{RATE}]))", "{{kind}}"),
                (f"sum by (target) (rate(linewatch_supervised_targets_total[{RATE}]))",
                 "learned {{target}}"),
                (f"sum by (state) (rate(linewatch_fault_alerts_total[{RATE}]))",
                 "fault alerts {{state}}")], (0, 58, 12, 8), "reqps"),
        _panel("timeseries", "Label buffer",
               "Feature vectors waiting for their target, and those dropped from full buffers.",
               [("sum(linewatch_supervised_buffered)", "buffered"),
                ("sum(linewatch_supervised_dropped)", "dropped")], (12, 58, 12, 8)),
    ]  # fmt: skip


def build() -> dict[str, Any]:
    """The dashboard as Grafana's JSON model, panels numbered in order."""
    panels = overview() + drilldown() + supervised()
    for number, panel in enumerate(panels, start=1):
        panel["id"] = number
    return {
        "uid": "linewatch",
        "title": "linewatch",
        "tags": ["linewatch"],
        "description": "Plant overview and per-machine drill-down of linewatch fault prediction.",
        "editable": False,
        "schemaVersion": 39,
        "version": 2,
        "refresh": "10s",
        "time": {"from": "now-30m", "to": "now"},
        "timezone": "browser",
        "templating": {"list": [_asset_variable()]},
        "annotations": {"list": []},
        "panels": panels,
    }


def _asset_variable() -> dict[str, Any]:
    query = "label_values(linewatch_asset_score, asset)"
    return {
        "name": "asset",
        "label": "Asset",
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": query, "refId": "asset"},
        "definition": query,
        "refresh": 2,
        "sort": 1,
        "multi": False,
        "includeAll": False,
    }


def render() -> str:
    """The JSON text written to :data:`OUT`."""
    return json.dumps(build(), indent=2) + "\n"


def main() -> None:
    OUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
