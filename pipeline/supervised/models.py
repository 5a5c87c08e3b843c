"""The river models of one machine type: failure-within-horizon classifier and RUL regressor.

Both learn from every asset of the type (fleet-wide), from per-asset features
(:mod:`pipeline.supervised.features`). The regressor learns the remaining useful life as a
fraction of the horizon (its cap), so its prediction is clipped to ``[0, horizon]``.

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

__all__ = ["TypeModels"]


def _classifier(settings: SupervisedSettings) -> Any:
    if settings.classifier == "hoeffding":
        return tree.HoeffdingAdaptiveTreeClassifier(grace_period=100, seed=settings.seed)
    if settings.classifier == "forest":
        return forest.ARFClassifier(n_models=5, seed=settings.seed)
    return preprocessing.StandardScaler() | linear_model.LogisticRegression(
        optimizer=optim.SGD(settings.learning_rate)
    )


def _regressor(settings: SupervisedSettings) -> Any:
    if settings.regressor == "hoeffding":
        return tree.HoeffdingAdaptiveTreeRegressor(grace_period=100, seed=settings.seed)
    if settings.regressor == "forest":
        return forest.ARFRegressor(n_models=5, seed=settings.seed)
    return preprocessing.StandardScaler() | linear_model.LinearRegression(
        optimizer=optim.SGD(0.01), intercept_lr=0.05
    )


class TypeModels:
    """Classifier and regressor of one machine type, and how much they learned."""

    def __init__(self, settings: SupervisedSettings) -> None:
        self.horizon_s = settings.horizon_s
        self.classifier = _classifier(settings)
        self.regressor = _regressor(settings)
        self.learned = 0
        self.failures = 0

    def predict(self, x: dict[str, float]) -> tuple[float, float] | None:
        """``(fault probability, RUL seconds)``; ``None`` before anything was learned."""
        if self.learned == 0:
            return None
        p = float(self.classifier.predict_proba_one(x).get(True, 0.0))
        fraction = float(self.regressor.predict_one(x) or 0.0)
        return p, min(1.0, max(0.0, fraction)) * self.horizon_s

    def learn(self, x: dict[str, float], target: Target) -> None:
        """Learn one resolved vector."""
        self.classifier.learn_one(x, target.failure)
        self.regressor.learn_one(x, target.rul_s / self.horizon_s)
        self.learned += 1
