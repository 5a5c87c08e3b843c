"""Where the bench runs what: the CPU plan, pinning a process's threads, a child's CPUs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.speed.cpus import CpuPlan, allowed, pin_process, pinned_self, spread
from bench.speed.run import Options, cpu_plan
from bench.speed.runner import Child


def _affinity_of_threads(pid: int) -> list[frozenset[int]]:
    return [
        frozenset(os.sched_getaffinity(int(task.name)))
        for task in Path(f"/proc/{pid}/task").iterdir()
    ]


class TestCpuPlan:
    def test_the_arms_get_the_lowest_cpu_and_the_broker_the_rest(self) -> None:
        plan = CpuPlan.of(frozenset({2, 3, 5}))
        assert plan is not None
        assert plan.arms == {2} and plan.broker == {3, 5} and plan.everything == {2, 3, 5}

    def test_one_cpu_cannot_be_shared_out(self) -> None:
        assert CpuPlan.of(frozenset({0})) is None
        assert CpuPlan.of(frozenset()) is None

    def test_described_with_spans(self) -> None:
        plan = CpuPlan.of(frozenset({0, 1, 2, 3}))
        assert plan is not None
        assert plan.describe() == (
            "drain arms on CPU 0; the broker and the bench on CPU 1-3;"
            " during the latency arm all on CPU 0-3"
        )
        gappy = CpuPlan.of(frozenset({0, 2, 6}))
        assert gappy is not None and "the broker and the bench on CPU 2,6;" in gappy.describe()


class TestWhenThePlanApplies:
    def test_by_default_only_with_the_benchs_own_broker(self) -> None:
        own = cpu_plan(Options(bootstrap=None))
        assert (own is None) == (len(allowed()) < 2)
        assert cpu_plan(Options(bootstrap="localhost:9092")) is None

    def test_asked_for_it_applies_to_any_broker_and_refused_to_none(self) -> None:
        forced = cpu_plan(Options(bootstrap="localhost:9092", pin=True))
        assert (forced is None) == (len(allowed()) < 2)
        assert cpu_plan(Options(bootstrap=None, pin=False)) is None


def test_pinning_a_process_pins_every_thread_it_has() -> None:
    code = (
        "import threading, time\n"
        "for _ in range(3): threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n"
        "print('up', flush=True); time.sleep(30)\n"
    )
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) as child:
        try:
            assert child.stdout is not None and child.stdout.readline().strip() == "up"
            one = frozenset({min(allowed())})
            assert pin_process(child.pid, one) == 4  # the main thread and its three
            assert set(_affinity_of_threads(child.pid)) == {one}
        finally:
            child.kill()


def test_spreading_gives_processes_every_cpu_of_the_plan_again() -> None:
    everything = allowed()
    plan = CpuPlan(frozenset({min(everything)}), everything - {min(everything)})
    code = "import time; print('up', flush=True); time.sleep(30)"
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) as child:
        try:
            assert child.stdout is not None and child.stdout.readline().strip() == "up"
            pin_process(child.pid, plan.arms)
            spread(plan, [child.pid])
            assert set(_affinity_of_threads(child.pid)) == {plan.everything}
        finally:
            child.kill()


def test_pinned_self_runs_this_process_there_meanwhile_and_restores_it() -> None:
    before = allowed()
    one = frozenset({max(before)})
    with pinned_self(one):
        assert set(_affinity_of_threads(os.getpid())) == {one}
    assert allowed() == before
    assert set(_affinity_of_threads(os.getpid())) == {before}
    with pinned_self(None):
        assert allowed() == before


@pytest.mark.parametrize("nice", [0, 3])
def test_a_child_runs_on_the_cpus_it_was_given(tmp_path: Path, nice: int) -> None:
    one = frozenset({min(allowed())})
    code = "import os; print(sorted(os.sched_getaffinity(0)), os.nice(0))"
    child = Child("probe", [sys.executable, "-c", code], tmp_path, nice=nice, cpus=one)
    deadline = time.monotonic() + 30
    while child.process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert child.stop() == 0
    assert child.output().strip() == f"{sorted(one)} {os.nice(0) + nice}"
