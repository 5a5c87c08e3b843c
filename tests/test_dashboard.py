"""The Grafana dashboard: generated from deploy/grafana/dashboard.py, with an overview and a
drill-down that answer a plant engineer's questions (the PromQL itself is checked against the
exported metric names in tests/test_compose.py and against a live Prometheus in
tests/integration/test_observability.py)."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
GENERATOR = ROOT / "deploy" / "grafana" / "dashboard.py"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "linewatch.json"


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("linewatch_dashboard", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def rows(dashboard: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Panels grouped under the row above them."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    current = ""
    for panel in sorted(dashboard["panels"], key=lambda p: (p["gridPos"]["y"], p["gridPos"]["x"])):
        if panel["type"] == "row":
            current = panel["title"]
            grouped[current] = []
        else:
            grouped.setdefault(current, []).append(panel)
    return grouped


def exprs(panels: list[dict[str, Any]]) -> str:
    return "\n".join(t["expr"] for p in panels for t in p["targets"])


class TestDashboardFile:
    def test_committed_json_is_what_the_generator_writes(self):
        assert DASHBOARD.read_text(encoding="utf-8") == load_generator().render(), (
            "run: python deploy/grafana/dashboard.py"
        )

    def test_panels_do_not_overlap_and_fit_the_24_column_grid(self, dashboard):
        cells: set[tuple[int, int]] = set()
        for panel in dashboard["panels"]:
            pos = panel["gridPos"]
            assert pos["x"] + pos["w"] <= 24, panel["title"]
            mine = {
                (x, y)
                for x in range(pos["x"], pos["x"] + pos["w"])
                for y in range(pos["y"], pos["y"] + pos["h"])
            }
            assert not cells & mine, f"{panel['title']} overlaps another panel"
            cells |= mine


class TestPlantOverview:
    def test_overview_answers_the_plant_questions(self, dashboard):
        overview = rows(dashboard)["Plant overview"]
        text = exprs(overview)
        for metric in (
            "linewatch_alerts_active",  # alerts active
            "linewatch_alerts_total",  # alerts over time
            "linewatch_asset_score",  # most anomalous assets
            "linewatch_readings_total",  # throughput
            "linewatch_producer_readings_sent_total",
            "linewatch_consumer_lag_messages",  # lag
            "linewatch_process_seconds_bucket",  # latency
            "linewatch_event_lag_seconds_bucket",
            "linewatch_deadletters_total",
        ):
            assert metric in text, metric
        assert "topk(" in text

    def test_alert_panel_lists_assets_in_alarm(self, dashboard):
        generator = load_generator()
        (panel,) = [p for p in dashboard["panels"] if p["title"] == generator.ALERT_PANEL]
        (target,) = panel["targets"]
        assert "linewatch_asset_alarm" in target["expr"] and "by (asset)" in target["expr"]


class TestAssetDrilldown:
    def test_asset_variable_lists_the_tracked_assets(self, dashboard):
        (variable,) = dashboard["templating"]["list"]
        assert variable["name"] == "asset"
        assert variable["query"]["query"] == "label_values(linewatch_asset_score, asset)"

    def test_every_drilldown_query_is_filtered_to_the_asset(self, dashboard):
        (title,) = [t for t in rows(dashboard) if "$asset" in t]
        drilldown = rows(dashboard)[title]
        assert len(drilldown) >= 3
        for panel in drilldown:
            for target in panel["targets"]:
                selectors = re.findall(r"linewatch_\w+\{([^}]*)\}", target["expr"])
                assert selectors and all('asset="$asset"' in s for s in selectors), target
        text = exprs(drilldown)
        for metric in (
            "linewatch_asset_score",
            "linewatch_asset_threshold",
            "linewatch_asset_channel_value",
            "linewatch_asset_alarm",
        ):
            assert metric in text, metric
