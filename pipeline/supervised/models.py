"""The river models of one machine type: failure-within-horizon classifier and RUL regressor.

Both learn from every asset of the type (fleet-wide), from per-asset features
(:mod:`pipeline.supervised.features`). The regressor learns the remaining useful life as a
fraction of the horizon (its cap), so its prediction is clipped to ``[0, horizon]``.

:class:`HierarchicalModels` (``hierarchical``) are per-type models with partial pooling: each
machine type's weights are weights shared by the fleet plus the type's own deviations, all
learned by one SGD step per vector (the type's features enter again under the type's name,
:func:`with_type`), so a type learns what sets it apart while its rare failures still teach
every type what they share.

Examples
--------
>>> from pipeline.settings import SupervisedSettings
>>> from pipeline.supervised.targets import Target
>>> models = TypeModels(SupervisedSettings(horizon_s=100.0))
>>> models.predict({"z": 0.0}) is None
True
>>> for k in range(400):
...     models.learn({"z": float(k % 2) * 5}, Target(k % 2 == 1, 10.0 if k % 2 else 100.0))
>>> p_ok, _ = models.predict({"z": 0.0})
>>> p_bad, rul_bad = models.predict({"z": 5.0})
>>> p_ok < 0.2 < 0.8 < p_bad, rul_bad < 50
(True, True)
"""

from __future__ import annotations

from typing import Any

from river import forest, linear_model, optim, preprocessing, tree

from pipeline.settings import SupervisedSettings
from pipeline.supervised.targets import Target

__all__ = ["TYPED", "HierarchicalModels", "TypeModels", "with_type"]

TYPED = "\0"
"""Between a machine type and a feature name in a type's feature (no channel name holds it:
decoding refuses unprintable names), so no type's feature can be taken for a shared one."""


def _logistic(settings: SupervisedSettings) -> Any:
    return linear_model.LogisticRegression(optimizer=optim.SGD(settings.learning_rate))


def _linear() -> Any:
    return linear_model.LinearRegression(optimizer=optim.SGD(0.01), intercept_lr=0.05)


def _classifier(settings: SupervisedSettings) -> Any:
    if settings.classifier == "hoeffding":
        return tree.HoeffdingAdaptiveTreeClassifier(grace_period=100, seed=settings.seed)
    if settings.classifier == "forest":
        return forest.ARFClassifier(n_models=5, seed=settings.seed)
    return preprocessing.StandardScaler() | _logistic(settings)


def _regressor(settings: SupervisedSettings) -> Any:
    if settings.regressor == "hoeffding":
        return tree.HoeffdingAdaptiveTreeRegressor(grace_period=100, seed=settings.seed)
    if settings.regressor == "forest":
        return forest.ARFRegressor(n_models=5, seed=settings.seed)
    return preprocessing.StandardScaler() | _linear()


class TypeModels:
    """Classifier and regressor of one machine type, and how much they learned.

    ``learners=False``: without them (``None``), for a type whose assets the fleet's models
    serve (``fleet_model``, ``hierarchical``); it keeps only the type's failure count and
    drift record. :meth:`with_learners` gives them back when a type predicts on its own again.
    """

    def __init__(self, settings: SupervisedSettings, learners: bool = True) -> None:
        self.horizon_s = settings.horizon_s
        self.classifier: Any = _classifier(settings) if learners else None
        self.regressor: Any = _regressor(settings) if learners else None
        self.learned = 0
        self.failures = 0

    def with_learners(self, settings: SupervisedSettings) -> None:
        """Fresh learners where there are none (the failures and drift record stay)."""
        if self.classifier is None or self.regressor is None:
            self.classifier, self.regressor = _classifier(settings), _regressor(settings)
            self.learned = 0

    def retune(self, settings: SupervisedSettings) -> None:
        """The classifier's logistic regression steps at ``settings.learning_rate`` from now
        on (a restored one kept the rate it was pickled with)."""
        logistic = self.classifier
        if hasattr(logistic, "steps"):  # StandardScaler | LogisticRegression
            logistic = list(logistic.steps.values())[-1]
        if isinstance(logistic, linear_model.LogisticRegression):
            logistic.optimizer.lr = optim.schedulers.Constant(settings.learning_rate)

    def predict(self, x: dict[str, float], kind: str = "") -> tuple[float, float] | None:
        """``(fault probability, RUL seconds)`` of an asset of machine type ``kind``;
        ``None`` before anything was learned."""
        if self.learned == 0 or self.classifier is None:
            return None
        inputs = self._inputs(x, kind)
        p = float(self.classifier.predict_proba_one(inputs).get(True, 0.0))
        fraction = float(self.regressor.predict_one(inputs) or 0.0)
        return p, min(1.0, max(0.0, fraction)) * self.horizon_s

    def learn(self, x: dict[str, float], target: Target, kind: str = "") -> None:
        """Learn one resolved vector of an asset of machine type ``kind``."""
        inputs = self._learned_inputs(x, kind)
        self.classifier.learn_one(inputs, target.failure)
        self.regressor.learn_one(inputs, target.rul_s / self.horizon_s)
        self.learned += 1

    def _inputs(self, x: dict[str, float], kind: str) -> dict[str, float]:
        """What the classifier and regressor see (here: ``x``; the type is this model's)."""
        return x

    def _learned_inputs(self, x: dict[str, float], kind: str) -> dict[str, float]:
        """:meth:`_inputs` after learning any shared preprocessing from ``x``."""
        return x


class HierarchicalModels(TypeModels):
    """The fleet's models with per-type weights: shared weights plus each type's deviations.

    One standard scaler for the fleet (the features are in each asset's own units), then a
    logistic and a linear regression over :func:`with_type` of the scaled features: the
    type's logit is ``shared . x + type_scale * (deviation_type . x + bias_type)``, so with
    the same SGD step a type's weight deviations learn at ``type_scale ** 2`` the rate of the
    shared weights (``type_scale`` 0: one model for the fleet); its bias learns at
    ``type_scale ** 2`` times the weights' step, not the intercept's (river's
    ``intercept_lr``). A type not seen yet predicts with the shared weights.

    Examples
    --------
    >>> from pipeline.settings import SupervisedSettings
    >>> from pipeline.supervised.targets import Target
    >>> settings = SupervisedSettings(learning_rate=0.05, hierarchical=True, type_scale=1.0)
    >>> models = HierarchicalModels(settings)
    >>> for k in range(2000):  # a "up" fails when z is high, a "down" when it is low
    ...     kind, z = ("up", "down")[k % 2], float(k % 4 // 2) * 4 - 2
    ...     models.learn({"z": z}, Target((z > 0) == (kind == "up"), 100.0), kind)
    >>> [round(models.predict({"z": 2.0}, kind)[0], 1) for kind in ("up", "down")]
    [1.0, 0.0]
    >>> up, down = models.type_weights("up"), models.type_weights("down")
    >>> up["z"] > 0 > down["z"]
    True
    """

    def __init__(self, settings: SupervisedSettings) -> None:
        super().__init__(settings, learners=False)
        self.type_scale = settings.type_scale
        self.scaler: Any = preprocessing.StandardScaler()
        self.classifier = _logistic(settings)
        self.regressor = _linear()

    def type_weights(self, kind: str) -> dict[str, float]:
        """The classifier's weights of machine type ``kind`` on the scaled features (shared
        plus the type's deviation; ``"1"``: the type's bias on top of the intercept)."""
        weights = self.classifier.weights
        prefix = kind + TYPED
        names = [n for n in weights if TYPED not in n]
        typed = {n: weights[n] + self.type_scale * weights.get(prefix + n, 0.0) for n in names}
        return {**typed, "1": self.type_scale * weights.get(prefix + "1", 0.0)}

    def _inputs(self, x: dict[str, float], kind: str) -> dict[str, float]:
        return with_type(self.scaler.transform_one(x), kind, self.type_scale)

    def _learned_inputs(self, x: dict[str, float], kind: str) -> dict[str, float]:
        self.scaler.learn_one(x)
        return self._inputs(x, kind)


def with_type(x: dict[str, float], kind: str, scale: float) -> dict[str, float]:
    """``x``, and again under ``kind`` + :data:`TYPED` + name times ``scale``, plus the
    type's bias (name ``1``).

    >>> with_type({"a": 2.0}, "pump", 0.5)
    {'a': 2.0, 'pump\\x00a': 1.0, 'pump\\x001': 0.5}
    """
    typed = {kind + TYPED + name: scale * value for name, value in x.items()}
    return {**x, **typed, kind + TYPED + "1": scale}
