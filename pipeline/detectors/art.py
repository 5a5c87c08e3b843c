"""Dual-vigilance fuzzy ART with a compact category memory: the clustering core of ``artime``.

Fuzzy ART (Carpenter, Grossberg and Rosen, 1991) keeps categories as boxes in the unit cube:
an input ``f`` is complement-coded as ``x = [f, 1 - f]`` and a category ``w`` matches it by
``|min(x, w)|_1 / |w|_1`` (1 when the box already holds ``f``). Learning is the fuzzy AND
``w <- min(x, w)``, which only ever grows the box. Dual vigilance (da Silva, Elnabarawy and
Wunsch, 2019) has two thresholds: a match above ``rho_ub`` resonates and is learned; between
``rho_lb`` and ``rho_ub`` the input becomes a new category of a *known* cluster; below
``rho_lb`` it is a new cluster, a *mismatch*, which is what ``artime`` reports.

As in ARTime (Mark Hampton, 2021, https://github.com/markNZed/ARTimeNAB.jl), the match is
``feature_match ** 3 * energy_match ** 2``, where the energy match looks only at the last
feature (the current level) and its complement, so a window of the right shape at the wrong
level matches poorly. The first category covers the whole cube (a weak catch-all, matching
any input at ``0.5 ** 5``). Memory is bounded: past ``capacity`` categories the least
recently matched one (never the catch-all) is replaced.

Examples
--------
>>> import numpy as np
>>> art = DualVigilanceART(dim=2, rho_lb=0.8, rho_ub=0.9)
>>> art.train(np.array([0.5, 0.5])).similarity  # creates the catch-all
0.0
>>> first = art.train(np.array([0.2, 0.3]))
>>> first.mismatch, art.categories
(True, 2)
>>> again = art.train(np.array([0.2, 0.3]))
>>> again.mismatch, round(again.similarity, 3), art.categories
(False, 1.0, 2)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["DualVigilanceART", "Resonance"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Resonance:
    """How an input matched: the best similarity, its energy part, and whether none was close."""

    similarity: float
    energy: float
    mismatch: bool


class DualVigilanceART:
    """Fuzzy ART categories of ``dim``-feature inputs in [0, 1] with two vigilance thresholds."""

    def __init__(
        self, dim: int, rho_lb: float = 0.0, rho_ub: float = 0.0, capacity: int = 2000
    ) -> None:
        self.dim = dim
        self.rho_lb = rho_lb
        self.rho_ub = rho_ub
        self.capacity = capacity
        # float32: the match is a sum of 2 * dim minima, and it halves the memory each step reads
        self._w = np.empty((16, 2 * dim), dtype=np.float32)
        self._inv_size = np.empty(16)
        """``1 / |w|_1`` of each category and, below, of its energy part (kept as ``w`` changes;
        an empty energy part matches nothing)."""
        self._inv_energy = np.empty(16)
        self._used = np.zeros(16, dtype=np.int64)
        self._ones = np.ones(2 * dim, dtype=np.float32)
        self._n = 0
        self._step = 0

    @property
    def categories(self) -> int:
        return self._n

    def train(self, features: FloatArray, learn: bool = True) -> Resonance:
        """Match ``features`` against every category and (with ``learn``) learn it."""
        self._step += 1
        x = np.concatenate((features, 1.0 - features)).astype(np.float32)
        n = self._n
        if n == 0:
            self._add(np.ones_like(x))
            return Resonance(0.0, 0.0, False)
        overlap = np.minimum(self._w[:n], x)
        overlap_size = (overlap @ self._ones).astype(np.float64)
        energy_overlap = overlap[:, self.dim - 1] + overlap[:, -1]
        energy = energy_overlap * self._inv_energy[:n]
        match = overlap_size * self._inv_size[:n]
        match *= match * match
        match *= energy * energy
        best = int(np.argmax(match))
        similarity = float(match[best])
        if not similarity > 0.0:
            return self._commit(x, learn, Resonance(0.0, 0.0, True))
        self._used[best] = self._step
        resonance = Resonance(similarity, float(energy[best]), similarity < self.rho_lb)
        if learn and similarity >= self.rho_ub:
            resonant = np.flatnonzero(match >= self.rho_ub)
            self._w[resonant] = overlap[resonant]
            self._set_sizes(resonant, overlap_size[resonant], energy_overlap[resonant])
            self._used[resonant] = self._step
            return resonance
        return self._commit(x, learn, resonance)

    def _commit(self, x: npt.NDArray[np.float32], learn: bool, resonance: Resonance) -> Resonance:
        """A new category at ``x`` (below the upper vigilance), when learning."""
        if learn:
            self._add(x)
        return resonance

    def _add(self, x: npt.NDArray[np.float32]) -> None:
        if self._n >= self.capacity:
            slot = 1 + int(np.argmin(self._used[1 : self._n]))
        else:
            if self._n == len(self._w):
                self._w = np.concatenate((self._w, np.empty_like(self._w)))
                self._inv_size = np.concatenate((self._inv_size, self._inv_size))
                self._inv_energy = np.concatenate((self._inv_energy, self._inv_energy))
                self._used = np.concatenate((self._used, np.zeros_like(self._used)))
            slot = self._n
            self._n += 1
        self._w[slot] = x
        size = float(x.sum(dtype=np.float64))
        energy = float(x[self.dim - 1]) + float(x[-1])
        self._inv_size[slot] = 1.0 / (size if size > 0.0 else 1e-3)
        self._inv_energy[slot] = 1.0 / energy if energy > 0.0 else 0.0
        self._used[slot] = self._step

    def _set_sizes(self, slots: npt.NDArray[np.intp], size: FloatArray, energy: FloatArray) -> None:
        self._inv_size[slots] = 1.0 / np.where(size > 0.0, size, 1e-3)
        self._inv_energy[slots] = np.divide(
            1.0, energy, out=np.zeros(len(energy)), where=energy > 0.0
        )
