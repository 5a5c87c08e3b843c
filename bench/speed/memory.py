"""placeholder"""

from __future__ import annotations


class MemoryResult:
    rss_mb_per_1000_assets: float
    snapshot_bytes_per_asset: float
    restore_s_per_1000_assets: float

    def describe(self) -> list[str]:
        return []


def measure_memory(*a: object) -> MemoryResult:
    raise NotImplementedError
