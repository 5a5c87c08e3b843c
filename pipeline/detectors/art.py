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

Speed (the numbers are those of the plain computation, bit for bit): the matches of an input
that *is* the previous step's input (the same array object, as ``artime``'s memoised windows
give for a window that repeats) are the previous step's, with only the categories that step
learned recomputed; a step that adds a category recomputes everything.

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

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

__all__ = ["DualVigilanceART", "Resonance", "complement_code"]

FloatArray = npt.NDArray[np.float64]
CodedArray = npt.NDArray[np.float32]


class Resonance(NamedTuple):
    """How an input matched: the best similarity, its energy part, and whether none was close."""

    similarity: float
    energy: float
    mismatch: bool


def complement_code(features: FloatArray) -> CodedArray:
    """``[f, 1 - f]`` in float32, the input :meth:`DualVigilanceART.train_coded` takes.

    >>> complement_code(np.array([0.25, 1.0])).tolist()
    [0.25, 1.0, 0.75, 0.0]
    """
    dim = len(features)
    x = np.empty(2 * dim, dtype=np.float32)
    x[:dim] = features
    x[dim:] = 1.0 - features
    return x


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
        self._overlap = np.empty_like(self._w)
        """``min(x, w)`` of the last input (its rows stay right as the categories learn it)."""
        self._inv_size = np.empty(16)
        """``1 / |w|_1`` of each category and, below, of its energy part (kept as ``w`` changes;
        an empty energy part matches nothing)."""
        self._inv_energy = np.empty(16)
        self._used = np.zeros(16, dtype=np.int64)
        self._ones = np.ones(2 * dim, dtype=np.float32)
        self._n = 0
        self._step = 0
        self._last: CodedArray | None = None
        """The last input while ``_match`` (and the sizes it came from) are still its matches."""
        self._match: FloatArray = np.empty(0)
        self._sizes: CodedArray = np.empty(0, dtype=np.float32)
        """``|min(x, w)|_1`` of the last input, and below its energy part."""
        self._energies: CodedArray = np.empty(0, dtype=np.float32)
        self._learned: list[int] = []
        """The categories that learned ``_last`` (learning them again would change nothing)."""

    @property
    def categories(self) -> int:
        return self._n

    _CACHES = ("_overlap", "_last", "_match", "_sizes", "_energies", "_learned")
    """The last step's matches: derived, and useless after a restore (``_last`` is then a
    copy, never the next input itself), so they stay out of snapshots (3.3x their size)."""

    def __getstate__(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if k not in self._CACHES}

    def __setstate__(self, state: dict[str, object]) -> None:
        """Restore a snapshot (the last step's matches are never in it: recomputed)."""
        self.__dict__.update(state)
        if "_last" not in state:  # nothing kept: the next step matches from scratch
            self._overlap = np.empty_like(self._w)
            self._last = None
            self._match = np.empty(0)
            self._sizes = self._energies = np.empty(0, dtype=np.float32)
            self._learned = []

    def train(self, features: FloatArray, learn: bool = True) -> Resonance:
        """Match ``features`` against every category and (with ``learn``) learn it."""
        return self.train_coded(complement_code(features), learn)

    def train_coded(self, x: CodedArray, learn: bool = True) -> Resonance:
        """:meth:`train` of a complement-coded input (``x`` is only read; do not change it)."""
        self._step += 1
        n = self._n
        if n == 0:
            self._add(np.ones_like(x))
            return Resonance(0.0, 0.0, False)
        if x is not self._last:
            self._match_all(x, n)
        match = self._match
        best = int(match.argmax())
        similarity = float(match[best])
        if not similarity > 0.0:
            return self._commit(x, learn, Resonance(0.0, 0.0, True))
        self._used[best] = self._step
        energy = float(self._energies[best] * self._inv_energy[best])
        resonance = Resonance(similarity, energy, similarity < self.rho_lb)
        if learn and similarity >= self.rho_ub:
            resonant = (match >= self.rho_ub).nonzero()[0]
            learned = resonant.tolist()
            if learned == self._learned:  # a repeated input: they hold it already
                self._used[resonant] = self._step
            elif len(learned) == 1:  # the usual case, without fancy indexing
                self._learn_one(best)
            else:
                self._learn_many(resonant)
            self._learned = learned
            return resonance
        return self._commit(x, learn, resonance)

    def _match_all(self, x: CodedArray, n: int) -> None:
        """Every category's match of ``x`` (``feature ** 3 * energy ** 2``)."""
        overlap = np.minimum(self._w[:n], x, out=self._overlap[:n])
        sizes, energies, match = self._matches(overlap, n)
        self._last, self._match, self._sizes, self._energies = x, match, sizes, energies
        self._learned = []

    def _matches(self, overlap: CodedArray, n: int) -> tuple[CodedArray, CodedArray, FloatArray]:
        """The sizes, energy parts and matches of the first ``n`` categories' ``overlap``."""
        sizes = overlap @ self._ones  # float32, as the category sizes were summed
        energies = overlap[:, self.dim - 1] + overlap[:, -1]
        energy = energies * self._inv_energy[:n]
        match = sizes * self._inv_size[:n]
        match *= match * match
        energy *= energy
        match *= energy
        return sizes, energies, match

    def best_match(self, x: CodedArray) -> Resonance:
        """:meth:`train_coded`'s resonance of ``x`` without learning it, marking a category
        used or touching the last step's matches: nothing changes."""
        n = self._n
        if n == 0:
            return Resonance(0.0, 0.0, False)
        _, energies, match = self._matches(np.minimum(self._w[:n], x), n)
        best = int(match.argmax())
        similarity = float(match[best])
        if not similarity > 0.0:
            return Resonance(0.0, 0.0, True)
        energy = float(energies[best] * self._inv_energy[best])
        return Resonance(similarity, energy, similarity < self.rho_lb)

    def _learn_one(self, k: int) -> None:
        """Category ``k`` learns the last input (``w <- min(x, w)``); its match is redone."""
        self._w[k] = self._overlap[k]
        size, energy_size = float(self._sizes[k]), self._energies[k]
        inv_size = self._inv_size[k] = 1.0 / (size if size > 0.0 else 1e-3)
        # in float32, as _learn_many divides the float32 energies
        inv_energy = self._inv_energy[k] = 1.0 / energy_size if energy_size > 0.0 else 0.0
        match = size * inv_size
        match *= match * match
        energy = float(energy_size) * float(inv_energy)
        self._match[k] = match * (energy * energy)
        self._used[k] = self._step

    def _learn_many(self, slots: npt.NDArray[np.intp]) -> None:
        """:meth:`_learn_one` for each of ``slots`` at once."""
        self._w[slots] = self._overlap[slots]
        size = self._sizes[slots].astype(np.float64)
        energy_size = self._energies[slots]
        inv_size = self._inv_size[slots] = 1.0 / np.where(size > 0.0, size, 1e-3)
        inv_energy = self._inv_energy[slots] = np.divide(
            1.0,
            energy_size,
            out=np.zeros(len(energy_size), dtype=np.float32),
            where=energy_size > 0.0,
        )
        match = size * inv_size
        match *= match * match
        energy = energy_size * inv_energy.astype(np.float64)
        energy *= energy
        match *= energy
        self._match[slots] = match
        self._used[slots] = self._step

    def _commit(self, x: CodedArray, learn: bool, resonance: Resonance) -> Resonance:
        """A new category at ``x`` (below the upper vigilance), when learning."""
        if learn:
            self._add(x)
        return resonance

    def _add(self, x: CodedArray) -> None:
        self._last = None
        if self._n >= self.capacity:
            slot = 1 + int(np.argmin(self._used[1 : self._n]))
        else:
            if self._n == len(self._w):
                self._w = np.concatenate((self._w, np.empty_like(self._w)))
                self._overlap = np.empty_like(self._w)
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
