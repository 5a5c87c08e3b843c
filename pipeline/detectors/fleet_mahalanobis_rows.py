"""A :class:`~pipeline.detectors.fleet_mahalanobis.MahalanobisFleet` row to and from the
per-reading detector it stands for.

:func:`absorb` takes over a :class:`~pipeline.detectors.scored.CalibratedDetector` over an
:class:`~pipeline.detectors.mahalanobis.OnlineMahalanobis` (an asset joining the fleet, or a
restored snapshot) into a new row, if it fits the fleet's settings and channels;
:func:`record` is a row as the plain values and bytes a snapshot pickles, which
``fleet_mahalanobis._rebuild`` makes the per-reading detector from.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.detectors.features import Smoother
from pipeline.detectors.mahalanobis import OnlineMahalanobis
from pipeline.detectors.scored import CalibratedDetector
from pipeline.detectors.stuck import StuckWatch

if TYPE_CHECKING:
    from pipeline.detectors.fleet_mahalanobis import MahalanobisFleet

__all__ = ["RECORD_VERSION", "absorb", "record"]

RECORD_VERSION = 1
"""The layout of a :func:`record` (a snapshot of another layout is refused)."""


def absorb(fleet: MahalanobisFleet, detector: object) -> int | None:
    """A new row of ``fleet`` in the state of ``detector``, or ``None`` if it does not fit."""
    if not isinstance(detector, CalibratedDetector) or detector.name != fleet.name:
        return None
    maha, smoother = detector.raw, detector._smoother
    if not _fits(fleet, maha, smoother, detector.outlier_z, detector.stuck):
        return None
    assert isinstance(maha, OnlineMahalanobis)
    row = fleet.rows.alloc()
    a = fleet.rows.arrays
    if smoother.window > 1 and smoother._history:
        length = len(smoother._history[fleet.channels[0]])
        for j, name in enumerate(fleet.channels):
            a["hist"][row, :length, j] = list(smoother._history[name])
            a["sums"][row, j] = smoother._sums[name]
        a["hlen"][row], a["hpos"][row] = length, length % smoother.window
    a["count"][row] = maha.count
    if maha.count:
        a["mean"][row], a["cov"][row] = maha._mean, maha._cov
    a["stale"][row] = maha._precision is None or maha._blind  # the refresh sets blind
    if maha._precision is not None:
        a["prec"][row] = maha._precision
    fleet._set_post(row, detector.post)
    if fleet.stuck is not None:
        fleet.stuck.reset(a, row)
        if detector.stuck is not None:
            fleet.stuck.load(a, row, detector.stuck)
    return row


def _fits(
    fleet: MahalanobisFleet,
    maha: object,
    smoother: Smoother,
    outlier_z: float,
    stuck: StuckWatch | None,
) -> bool:
    t, settings = fleet._template, fleet.settings
    if not isinstance(maha, OnlineMahalanobis) or outlier_z != settings.outlier_z:
        return False
    if stuck is not None and (fleet.stuck is None or not fleet.stuck.fits(stuck)):
        return False
    params = (maha.forget, maha.ridge, maha.min_rel_std, maha.refresh)
    if params != (t.forget, t.ridge, t.min_rel_std, t.refresh):
        return False
    if maha.channels not in ((), fleet.channels) or smoother.window != settings.smooth:
        return False
    if smoother.window == 1 or not smoother._history:
        return True
    history = smoother._history
    lengths = {len(history.get(name, ())) for name in fleet.channels}
    return set(history) == set(fleet.channels) and len(lengths) == 1


def record(fleet: MahalanobisFleet, row: int) -> tuple[Any, ...]:
    """``row`` of ``fleet`` as plain values and bytes (the arguments of ``_rebuild``)."""
    s, a = fleet.settings, fleet.rows.arrays
    count, length = int(a["count"][row]), int(a["hlen"][row])
    stale = bool(a["stale"][row] or a["blind"][row])  # a blind row's refresh says so again
    history = b""
    if s.smooth > 1 and length:
        start = int(a["hpos"][row]) if length == s.smooth else 0
        order = [(start + i) % s.smooth for i in range(length)]
        history = a["hist"][row, order].tobytes()
    return (
        RECORD_VERSION,
        fleet.name,
        fleet.channels,
        (s.forget, s.ridge, s.min_rel_std, s.smooth, s.outlier_z),
        count,
        a["mean"][row].tobytes() if count else b"",
        a["cov"][row].tobytes() if count else b"",
        None if stale or not count else a["prec"][row].tobytes(),
        history,
        a["sums"][row].tobytes() if history else b"",
        fleet.post(row),
        None if fleet.stuck is None else fleet.stuck.unload(a, row),
    )
