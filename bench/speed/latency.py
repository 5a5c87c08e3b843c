"""placeholder"""

from __future__ import annotations


class LatencyResult:
    p50_ms: float
    p99_ms: float

    def describe(self) -> list[str]:
        return []


def measure_latency(*a: object) -> LatencyResult:
    raise NotImplementedError
