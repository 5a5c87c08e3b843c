"""Draw one asset's series with its score, threshold, alerts and label windows (PNG, Agg).

What an engineer looks at first when asking "why did it alarm?": the top panel shows the
channels (each scaled to [0, 1] when there are several), the bottom one the anomaly score and
the threshold it was compared with. Red bands are the alert policy's alarms (``is_anomaly``),
green bands the labelled anomalies (``label`` or ``anomaly``).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display; before pyplot is imported

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

from pipeline.evaluation.detect import Detection  # noqa: E402
from pipeline.evaluation.loaders import Recording  # noqa: E402

__all__ = ["draw_report", "spans"]


def spans(flags: npt.ArrayLike) -> list[tuple[int, int]]:
    """Runs of non-zero flags as ``(first, last)`` row indices, inclusive.

    >>> spans([0, 1, 1, 0, 1])
    [(1, 2), (4, 4)]
    """
    on = np.asarray(flags, dtype=np.float64) > 0.5
    edges = np.diff(np.concatenate(([False], on, [False])).astype(np.int8))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    return [(int(a), int(b)) for a, b in zip(starts, ends, strict=True)]


def draw_report(recording: Recording, detection: Detection, asset: str, out: Path) -> None:
    """Write the picture of ``asset``'s rows of ``recording`` to ``out`` (PNG)."""
    rows = np.flatnonzero(np.asarray(recording.assets) == asset)
    if rows.size == 0:
        raise ValueError(f"no rows for asset {asset!r}")
    times = np.asarray(recording.ts_ms[rows], dtype="datetime64[ms]")
    frame = detection.frame.iloc[rows]
    figure, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(14, 7), height_ratios=[3, 2])
    try:
        _draw_channels(top, times, recording.values[rows], recording.channels)
        bottom.plot(times, frame["anomaly_score"], color="tab:blue", lw=0.8, label="anomaly_score")
        bottom.plot(
            times, detection.threshold[rows], color="black", ls="--", lw=0.8, label="threshold"
        )
        bottom.set_ylim(-0.02, 1.02)
        bottom.set_ylabel("score")
        label_column = next((c for c in ("label", "anomaly") if c in frame.columns), None)
        for axis in (top, bottom):
            if label_column is not None:
                _shade(axis, times, frame[label_column].to_numpy(), "tab:green", "label")
            _shade(axis, times, frame["is_anomaly"].to_numpy(), "tab:red", "alarm")
        name = asset if asset == recording.name else f"{recording.name} / {asset}"
        top.set_title(f"{name}: {detection.model}")
        top.legend(loc="upper left", fontsize="small")
        bottom.legend(loc="upper left", fontsize="small")
        figure.tight_layout()
        out.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(out, dpi=100)
    finally:
        plt.close(figure)


def _draw_channels(
    axis: Axes,
    times: npt.NDArray[np.datetime64],
    values: npt.NDArray[np.float64],
    channels: list[str],
) -> None:
    if len(channels) == 1:
        axis.plot(times, values[:, 0], lw=0.8, label=channels[0])
        axis.set_ylabel(channels[0])
        return
    low, high = np.nanmin(values, axis=0), np.nanmax(values, axis=0)
    scaled = (values - low) / np.where(high > low, high - low, 1.0)
    for index, name in enumerate(channels):
        axis.plot(times, scaled[:, index], lw=0.7, label=name)
    axis.set_ylabel("channels (min-max scaled)")


def _shade(
    axis: Axes, times: npt.NDArray[np.datetime64], flags: npt.ArrayLike, color: str, name: str
) -> None:
    for number, (first, last) in enumerate(spans(flags)):
        axis.axvspan(
            times[first],
            times[last],
            color=color,
            alpha=0.2,
            lw=0,
            label=name if number == 0 else None,
        )
