"""Online mean and covariance of all channels, and the Mahalanobis distance of a reading.

Correlated channels (pump current, pressure and flow on a SKAB-like rig) move together in
normal operation; a fault breaks the correlation before any channel leaves its own range,
which only a multivariate score sees. The covariance is learned incrementally (Welford, or
exponentially forgetting with weight ``forget``); its regularised inverse is refreshed every
``refresh`` learned readings.

Examples
--------
>>> import random
>>> rng = random.Random(0)
>>> model = OnlineMahalanobis()
>>> for _ in range(300):
...     a = rng.gauss(0, 1)
...     model.learn_one({"a": a, "b": a + rng.gauss(0, 0.1)})
>>> model.raw_one({"a": 1.0, "b": 1.0}) < 3, model.raw_one({"a": 1.0, "b": -1.0}) > 10
(True, True)
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = ["CONDITION_LIMIT", "OnlineMahalanobis", "regularised_inverse"]

_Vector = npt.NDArray[np.float64]


class OnlineMahalanobis:
    """Mahalanobis distance under an online covariance; channels fixed by the first reading."""

    def __init__(
        self, forget: float = 0.0, ridge: float = 1e-3, min_rel_std: float = 1e-4, refresh: int = 10
    ) -> None:
        self.forget = forget
        self.ridge = ridge
        self.min_rel_std = min_rel_std
        self.refresh = refresh
        self.channels: tuple[str, ...] = ()
        self.count = 0
        self._mean: _Vector = np.zeros(0)
        self._cov: _Vector = np.zeros((0, 0))
        self._precision: _Vector | None = None

    _blind = False
    """Whether the covariance has an inf or NaN (its precision is zeros): then the model cannot
    score, as before it was ready (the fleet's rows alike)."""

    def _vector(self, x: dict[str, float]) -> _Vector:
        mean = self._mean
        return np.array(
            [x.get(name, mean[i]) for i, name in enumerate(self.channels)], dtype=np.float64
        )

    def _ready(self) -> bool:
        return self.count > len(self.channels) + 1

    def _scorable(self) -> bool:
        """Ready, and the (refreshed) precision from a finite covariance."""
        if not self._ready():
            return False
        if self._precision is None:
            self._precision = self._invert()
        return not self._blind

    def _offsets(self, x: dict[str, float]) -> tuple[_Vector, _Vector]:
        assert self._precision is not None
        d = self._vector(x) - self._mean
        return d, self._precision @ d

    def raw_one(self, x: dict[str, float]) -> float | None:
        """The Mahalanobis distance of ``x`` (``None`` until enough readings are learned)."""
        if not self._scorable():
            return None
        d, pd = self._offsets(x)
        return math.sqrt(max(float(d @ pd), 0.0))

    def deviations(self, x: dict[str, float]) -> dict[str, float]:
        """Each channel's term ``|d_i (P d)_i|`` of the squared distance."""
        if not self._scorable():
            return {}
        d, pd = self._offsets(x)
        terms = np.abs(d * pd)
        return {name: float(terms[i]) for i, name in enumerate(self.channels)}

    def max_z(self, x: dict[str, float]) -> float:
        """The largest per-channel z-score of ``x`` under the learned variances."""
        if not self._scorable():
            return 0.0
        floor = (self.min_rel_std * np.abs(self._mean) + 1e-9) ** 2
        std = np.sqrt(np.maximum(np.diag(self._cov), floor))
        return float(np.max(np.abs(self._vector(x) - self._mean) / std))

    def learn_one(self, x: dict[str, float]) -> None:
        if not self.channels:
            self.channels = tuple(sorted(x))
            self._mean = np.zeros(len(self.channels))
            self._cov = np.zeros((len(self.channels), len(self.channels)))
        v = self._vector(x)
        self.count += 1
        weight = max(1.0 / self.count, self.forget)
        d = v - self._mean
        self._mean = self._mean + weight * d
        self._cov = (1.0 - weight) * (self._cov + weight * np.outer(d, d))
        if self.count % self.refresh == 0 or self._precision is None:
            self._precision = None

    def _invert(self) -> _Vector:
        # a channel's standard deviation is at least min_rel_std of its level (sensor resolution):
        # a quantised or constant channel gets a finite precision
        floor = (self.min_rel_std * np.abs(self._mean) + 1e-9) ** 2
        jitter = self.ridge * np.maximum(np.diag(self._cov), 0.0) + floor
        matrix = self._cov + np.diag(jitter)
        self._blind = not np.isfinite(matrix).all()
        inverse: _Vector = regularised_inverse(matrix)
        return inverse


CONDITION_LIMIT = 1e6
"""Matrices whose (estimated) condition number exceeds this are inverted by ``pinv``."""


def regularised_inverse(matrices: _Vector) -> _Vector:
    """The inverse of each regularised covariance matrix of a stack (or of one matrix).

    The model's inverse was ``np.linalg.pinv`` (an SVD: ~11 us for 8 x 8); an LU inverse
    costs a tenth of that. Where a matrix is well conditioned (``||A||_1 ||A^-1||_1`` at most
    :data:`CONDITION_LIMIT`) both are the exact inverse to within ~1e-10 relative (pinv cuts
    no singular value below a condition of 1e15), so the LU inverse is kept; an ill-conditioned
    or singular matrix is inverted by ``pinv``, as before
    (``tests/pipeline/test_mahalanobis_inverse.py`` checks scores against ``pinv``). A matrix
    with an inf or NaN (a covariance overflowed by readings near 1e160) has no inverse: its
    precision is zeros, and the detectors cannot score with it (``pinv`` would fail on NaN
    and never return on inf).

    >>> a = np.array([[2.0, 1.0], [1.0, 2.0]])
    >>> bool(np.allclose(regularised_inverse(a), np.linalg.pinv(a), rtol=1e-14))
    True
    >>> bool(np.allclose(regularised_inverse(np.ones((2, 2))), np.linalg.pinv(np.ones((2, 2)))))
    True
    >>> regularised_inverse(np.array([[np.inf, 0.0], [0.0, 1.0]]))
    array([[0., 0.],
           [0., 0.]])
    """
    if matrices.shape[-1] == 0:  # no channels (a model learning empty readings)
        return np.zeros(matrices.shape)
    finite = np.isfinite(matrices).all(axis=(-2, -1))
    # pinv never returns on an inf matrix (numpy 2.4): zeros for those (count_nonzero: no
    # Python wrapper, as all() and any() have, in a call made every round)
    if np.count_nonzero(finite) < finite.size:
        inverse = np.zeros(matrices.shape)
        if np.count_nonzero(finite):
            inverse[finite] = regularised_inverse(matrices[finite])
        return inverse
    try:
        inverse = np.linalg.inv(matrices).astype(np.float64, copy=False)
    except np.linalg.LinAlgError:  # an exactly singular matrix: by pinv
        if matrices.ndim == 2:
            return np.linalg.pinv(matrices).astype(np.float64, copy=False)
        # each of the stack on its own, so no matrix's inverse depends on its batch-mates
        return np.stack([regularised_inverse(matrix) for matrix in matrices])
    # symmetric matrices: the 1-norm is the largest column sum of magnitudes
    # (the reductions sum and max make, without their Python wrappers: a stack each round)
    norm = np.maximum.reduce(np.add.reduce(np.abs(matrices), axis=-2), axis=-1)
    with np.errstate(over="ignore"):  # an inverse near overflow: condition inf, so pinv
        condition = norm * np.maximum.reduce(np.add.reduce(np.abs(inverse), axis=-2), axis=-1)
    doubtful = ~(condition <= CONDITION_LIMIT)  # also NaN
    if np.count_nonzero(doubtful):
        if inverse.ndim == 2:
            return np.linalg.pinv(matrices).astype(np.float64, copy=False)
        inverse[doubtful] = np.linalg.pinv(matrices[doubtful])
    return inverse
