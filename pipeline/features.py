"""Turn a Reading into the flat ``dict[str, float]`` a river model expects.

Examples
--------
>>> from pipeline.messages import Reading
>>> select_features(Reading("p", 0, {"a": 1.0, "b": 2.0}), channels=("b",))
{'b': 2.0}
>>> select_features(Reading("p", 0, {"b": 2.0, "a": 1.0}), channels=None)
{'a': 1.0, 'b': 2.0}
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.messages import Reading

__all__ = ["select_features"]


def select_features(reading: Reading, channels: Sequence[str] | None) -> dict[str, float]:
    """The configured channels present in ``reading`` (all of them, sorted, when ``None``)."""
    if channels is None:
        return dict(sorted(reading.values.items()))
    return {name: reading.values[name] for name in channels if name in reading.values}
