"""The speed bench at a tiny size against the session broker, so its harness cannot rot.

Nothing here asserts a speed (speed lives in ``scripts/bench``): the tests check that every
arm drains the input with one score per reading and that the run's numbers reach the
results file. The default suite runs the throughput arms with memory, and latency; the whole
set of arms together (``passthrough`` is the ``linewatch`` arm with another detector kind)
is opt-in with ``-m slow``.
"""

from __future__ import annotations

import dataclasses
import os
import re

import pytest

from bench.speed import runner
from bench.speed.cpus import CpuPlan
from bench.speed.memory import OTHER_ARM
from bench.speed.results import SUMMARY_KEYS, format_value, parse_summary
from bench.speed.run import ARMS, Options, run

pytestmark = pytest.mark.integration


def _options(kafka_broker, tmp_path, arms: tuple[str, ...]) -> Options:
    return Options(
        readings=2000,
        assets=20,
        partitions=2,
        arms=arms,
        bootstrap=kafka_broker.bootstrap,
        latency_seconds=2.0,
        latency_rate=500.0,
        results=tmp_path / "RESULTS.md",
        commit_interval_s=0.5,
        timeout_s=120.0,
    )


def test_each_throughput_arm_scores_every_reading_and_memory_is_measured(kafka_broker, tmp_path):
    options = _options(kafka_broker, tmp_path, ("naive", "quix", "linewatch", "memory"))
    summary = run(options)
    keys = ("linewatch/quix", "linewatch/naive")
    ratios = [summary[key] for key in keys]
    assert all(ratio is not None and ratio > 0 for ratio in ratios), summary
    assert summary["rss_mb_per_1000_assets"] is not None  # 20 assets: noise, may be < 0
    assert summary["snapshot_bytes_per_asset"] and summary["restore_s_per_1000_assets"]
    heap = summary["state_heap_mb_per_1000_assets"]
    assert heap is not None and heap > 0
    assert summary["passthrough_readings_per_s_per_core"] is None  # not run: n/a
    text = (tmp_path / "RESULTS.md").read_text()
    for arm in ("naive", "quix", "linewatch"):
        assert f"| {arm} | 2,000 | 2,000 |" in text  # one score per reading
    # the memory arm's second run: 3 x 20 assets, as many whole readings per asset as fit
    assert f"| {OTHER_ARM} | 1,980 | 1,980 |" in text
    assert "restored 20" not in text and "for 20 assets" in text  # every asset restored


def test_the_hand_loop_scores_every_reading_and_is_passthroughs_yardstick(kafka_broker, tmp_path):
    # 20,000 readings: the hand loop drains 2,000 within one /proc CPU tick, 0 readings/s/core
    options = _options(kafka_broker, tmp_path, ("passthrough", "handloop"))
    summary = run(dataclasses.replace(options, readings=20_000))
    text = (tmp_path / "RESULTS.md").read_text()
    assert "| handloop | 20,000 | 20,000 |" in text  # one score per reading
    passthrough = summary["passthrough_readings_per_s_per_core"]
    handloop = summary["handloop_readings_per_s_per_core"]
    assert passthrough is not None and handloop is not None and handloop > 0
    ratio = summary["passthrough/handloop"]
    assert ratio is not None and ratio == pytest.approx(passthrough / handloop)
    assert f"passthrough/handloop = {ratio:.2f}\n" in text


def test_repeated_drain_arms_are_each_recorded_and_the_best_round_summarised(
    kafka_broker, tmp_path
):
    options = dataclasses.replace(_options(kafka_broker, tmp_path, ("naive",)), repeat=2)
    summary = run(options)
    text = (tmp_path / "RESULTS.md").read_text()
    rows = [
        re.search(
            rf"^\| naive \({n}/2\) \| 2,000 \| 2,000 \|(?:[^|]*\|){{2}} ([\d,]+) \|",
            text,
            re.MULTILINE,
        )
        for n in (1, 2)
    ]
    rates = [float(row.group(1).replace(",", "")) for row in rows if row is not None]
    assert len(rates) == 2, text  # one row per round
    assert "Drain arms run 2 times in turn" in text
    best = summary["naive_readings_per_s_per_core"]
    assert best is not None and round(best) == max(rates)


def test_latency_is_measured_with_a_live_producer(kafka_broker, tmp_path):
    summary = run(_options(kafka_broker, tmp_path, ("latency",)))
    p50, p99 = summary["p50_latency_ms"], summary["p99_latency_ms"]
    assert p50 is not None and p99 is not None and 0 < p50 <= p99
    text = (tmp_path / "RESULTS.md").read_text()
    assert (
        "Latency (e): live `simulate`'s messages encoded beforehand (loadgen), each partition's "
        "assets in turn at 500" in text
    )
    assert re.search(r"at 500 readings/s \([\d,]+ achieved\)", text)
    assert not re.search(r"\(0 achieved\)", text)  # the producer's rate was read
    cores = summary["latency_service_cores"]
    assert cores is not None and 0 < cores < 1  # 500 readings/s keep it far from busy
    busy = re.search(r"The service took ([\d.]+) µs of CPU a reading .*: ([\d.]+) of a core", text)
    assert busy is not None and float(busy.group(2)) == round(cores, 2)
    assert float(busy.group(1)) == pytest.approx(cores / 500 * 1e6, rel=0.01, abs=0.1)
    assert f"latency_service_cores = {cores:.2f}" in text
    seconds = re.search(r" Seconds with p99 <= 50 ms: (\d+) of (\d+)\.", text)
    assert seconds is not None and int(seconds.group(2)) >= 1  # 1.6 s measured: 1 or 2 whole
    ok, total = int(seconds.group(1)), int(seconds.group(2))
    assert summary["latency_seconds_ok_share"] == pytest.approx(ok / total)
    stalls = re.search(r"A sleeper at nice (-?\d+) \(`bench.speed.stalls`\) woke 20 ms", text)
    assert stalls is not None  # the witness ran through the arm and its report was read
    assert summary["machine_stalls"] is not None and summary["machine_stalls"] >= 0
    met = "yes" if p99 <= 50 else "**no**"
    assert f"| event-to-score p99 at half the peak rate, ms | <= 50.0 | {p99:.1f} | {met} |" in text
    assert (
        "| linewatch / Quix Streams, readings/s per core | >= 3.00 | n/a | not measured |" in text
    )


def test_pinned_drain_arms_run_on_one_cpu_and_everything_on_all_for_the_latency_arm(
    kafka_broker, tmp_path, monkeypatch
):
    placed: dict[str, frozenset[int] | None] = {}
    bench_on: dict[str, frozenset[int]] = {}  # the bench's own CPUs as each child started
    made = runner.Child.__init__

    def spy(self, name, argv, workdir, cwd=None, nice=0, cpus=None):
        placed[name] = cpus
        bench_on[name] = frozenset(os.sched_getaffinity(0))
        made(self, name, argv, workdir, cwd, nice, cpus)

    monkeypatch.setattr(runner.Child, "__init__", spy)
    before = os.sched_getaffinity(0)
    options = dataclasses.replace(
        _options(kafka_broker, tmp_path, ("passthrough", "handloop", "latency")), pin=True
    )
    summary = run(options)
    assert os.sched_getaffinity(0) == before  # the bench's own placement is undone
    plan = CpuPlan.of(frozenset(before))
    if plan is None:  # one CPU: nothing to share out, nothing pinned
        assert set(placed.values()) == {None}
        assert "| CPU placement | not pinned |" in (tmp_path / "RESULTS.md").read_text()
        return
    assert placed == {
        "passthrough": plan.arms,
        "handloop": plan.arms,
        "latency": plan.everything,
        "latency-producer": plan.everything,
        "stalls": plan.everything,  # the latency arm's witness of the machine's stalls
    }
    assert bench_on["passthrough"] == bench_on["handloop"] == plan.broker
    assert bench_on["latency"] == bench_on["latency-producer"] == plan.everything
    assert bench_on["stalls"] == plan.everything
    text = (tmp_path / "RESULTS.md").read_text()
    placement = f"{plan.describe()} (the external broker is not the bench's to place)"
    assert f"| CPU placement | {placement} |" in text
    assert "| passthrough | 2,000 | 2,000 |" in text and "| handloop | 2,000 | 2,000 |" in text
    assert summary["p99_latency_ms"] is not None


@pytest.mark.slow
def test_a_run_of_every_arm_ends_the_results_file_with_its_summary(kafka_broker, tmp_path):
    summary = run(_options(kafka_broker, tmp_path, ARMS))
    for key in SUMMARY_KEYS:
        assert summary[key] is not None, key
    text = (tmp_path / "RESULTS.md").read_text()
    assert "| passthrough | 2,000 | 2,000 |" in text
    written = parse_summary(text)
    for key, value in summary.items():
        assert format_value(key, written[key]) == format_value(key, value)
