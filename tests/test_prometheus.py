"""``promtool`` on the Prometheus configuration and alerting rules in deploy/prometheus/.

promtool comes with Debian's ``prometheus`` package, which ``scripts/setup-env test`` installs
(``scripts/install-prometheus``); these tests fail, not skip, when it is missing.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
CONFIG = PROMETHEUS_DIR / "prometheus.yml"
RULES = PROMETHEUS_DIR / "linewatch-alerts.yml"
RULE_TESTS = PROMETHEUS_DIR / "linewatch-alerts.test.yml"


def promtool(*args: str | Path, cwd: Path = PROMETHEUS_DIR) -> subprocess.CompletedProcess[str]:
    executable = shutil.which("promtool")
    assert executable, "promtool is not on PATH: run scripts/install-prometheus"
    return subprocess.run(
        [executable, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=60
    )


class TestPromtool:
    def test_check_config(self):
        result = promtool("check", "config", CONFIG)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "1 rule files found" in result.stdout

    def test_check_rules(self):
        result = promtool("check", "rules", RULES)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "4 rules found" in result.stdout

    def test_rule_unit_tests_pass(self):
        result = promtool("test", "rules", RULE_TESTS)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "SUCCESS" in result.stdout

    @pytest.mark.parametrize(
        ("original", "broken"),
        [
            (
                "max by (asset) (linewatch_asset_alarm) > 0",
                "max by (asset) (linewatch_asset_alarm) > 1",
            ),
            ("for: 5m", "for: 0m"),
        ],
    )
    def test_rule_unit_tests_catch_a_changed_rule(self, tmp_path, original, broken):
        text = RULES.read_text(encoding="utf-8")
        assert original in text
        (tmp_path / RULES.name).write_text(text.replace(original, broken, 1), encoding="utf-8")
        shutil.copy(RULE_TESTS, tmp_path / RULE_TESTS.name)
        result = promtool("test", "rules", RULE_TESTS.name, cwd=tmp_path)
        assert result.returncode != 0, result.stdout
        assert "FAILED" in result.stdout + result.stderr
