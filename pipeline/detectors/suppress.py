"""Report a detection once: a surprise counts only if it beats every recent, decaying peak.

Each surprise ``u`` leaves a peak that decays linearly to nothing over ``readings`` readings
after the next one (so a plateau of equal surprises is one event).
A reading whose surprise does not exceed the highest decayed peak before it scores 0; so a
burst of high surprises (a level shift, a noisy spell) reports its first and any higher
readings, and the same surprise is reported again only once the burst has been forgotten.
Whatever threshold a consumer applies, it sees one alarm where there was one event, which is
what NAB rewards (only a window's earliest detection counts, every false alarm costs).

Examples
--------
>>> peaks = PeakSuppressor(readings=4)
>>> [peaks.filter(u) for u in (2.0, 1.9, 0.0, 0.0, 1.0, 2.1)]
[2.0, 0.0, 0.0, 0.0, 1.0, 2.1]
"""

from __future__ import annotations

from collections import deque

__all__ = ["PeakSuppressor"]


class PeakSuppressor:
    """Zero every surprise at or below the highest recent peak, linearly decayed by age."""

    __slots__ = ("readings", "_count", "_peaks")

    def __init__(self, readings: int) -> None:
        self.readings = readings
        self._count = 0
        self._peaks: deque[tuple[int, float]] = deque()
        """(reading number, surprise), surprises decreasing: a later, higher peak hides it."""

    def __getstate__(self) -> tuple[int, int, list[tuple[int, float]]]:
        return self.readings, self._count, list(self._peaks)

    def __setstate__(self, state: tuple[int, int, list[tuple[int, float]]]) -> None:
        self.readings, self._count, peaks = state
        self._peaks = deque(peaks)

    def filter(self, surprise: float) -> float:
        """``surprise`` if it beats the decayed recent peaks, else 0.0; then remember it."""
        span = self.readings
        if span == 0:
            return surprise
        now = self._count
        self._count = now + 1
        peaks = self._peaks
        horizon = now - span
        while peaks and peaks[0][0] <= horizon:
            peaks.popleft()
        if not surprise > 0.0:
            return 0.0
        reported = True  # unless some decayed peak reaches it (stops at the first that does)
        for at, u in peaks:
            if not u * (1.0 - (now - at - 1) / span) < surprise:
                reported = False
                break
        while peaks and peaks[-1][1] <= surprise:
            peaks.pop()
        peaks.append((now, surprise))
        return surprise if reported else 0.0
