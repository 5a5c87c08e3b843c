"""The RESULTS.md writer and parser: earlier runs kept, the latest summary last."""

from __future__ import annotations

import re

from bench.speed.results import SUMMARY_KEYS, append_run, parse_summary, render_summary

_CHECK_FORMS = {
    "linewatch/quix": r"\d+\.\d{2}",
    "linewatch/naive": r"\d+\.\d{2}",
    "passthrough_readings_per_s_per_core": r"\d+",
    "p99_latency_ms": r"\d+\.\d",
    "rss_mb_per_1000_assets": r"\d+\.\d",
}


def _summary(scale: float) -> dict[str, float | None]:
    return {
        "linewatch/quix": 3.414 * scale,
        "linewatch/naive": 6.018 * scale,
        "passthrough_readings_per_s_per_core": 123456.4 * scale,
        "p99_latency_ms": 12.34 * scale,
        "rss_mb_per_1000_assets": 41.04 * scale,
        "p50_latency_ms": None,
    }


class TestResultsFile:
    def test_first_run_creates_the_file_ending_with_its_summary(self, tmp_path):
        path = tmp_path / "RESULTS.md"
        append_run(path, "## Run A\n\n| arm |\n", _summary(1.0))
        text = path.read_text()
        assert text.startswith("# Speed bench results")
        assert text.rstrip().endswith("```")
        assert text.index("## Run A") < text.index("## Latest run summary")
        assert "linewatch/quix = 3.41\n" in text and "linewatch/naive = 6.02\n" in text
        assert "passthrough_readings_per_s_per_core = 123456\n" in text
        assert "p99_latency_ms = 12.3\n" in text and "rss_mb_per_1000_assets = 41.0\n" in text

    def test_a_later_run_keeps_earlier_runs_and_replaces_the_summary(self, tmp_path):
        path = tmp_path / "RESULTS.md"
        append_run(path, "## Run A", _summary(1.0))
        append_run(path, "## Run B", _summary(2.0))
        text = path.read_text()
        assert text.count("## Latest run summary") == 1
        assert text.index("## Run A") < text.index("## Run B") < text.index("## Latest run")
        assert parse_summary(text)["linewatch/quix"] == 6.83

    def test_summary_lines_have_the_form_outside_checks_read(self):
        text = render_summary(_summary(1.0))
        for key in SUMMARY_KEYS:
            line = re.search(rf"^{re.escape(key)} = (\S+)$", text, re.MULTILINE)
            assert line is not None, key
            assert re.fullmatch(_CHECK_FORMS[key], line.group(1)), line.group(0)

    def test_missing_values_are_written_and_read_as_not_available(self):
        parsed = parse_summary(render_summary({"p99_latency_ms": None, "x": 1.0}))
        assert parsed == {"p99_latency_ms": None, "x": 1.0}

    def test_the_committed_results_file_ends_with_every_summary_key(self):
        from bench.speed.__main__ import DEFAULT_RESULTS

        if DEFAULT_RESULTS.exists():
            text = DEFAULT_RESULTS.read_text()
            assert set(SUMMARY_KEYS) <= set(parse_summary(text))
            tail = text[text.rindex("## Latest run summary") :]
            assert "## Run" not in tail
