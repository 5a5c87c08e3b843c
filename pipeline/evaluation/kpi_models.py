"""The online regressors of the KPI regression, built from :class:`KpiSettings`, and their weights.

Every candidate is ``TargetStandardScaler(StandardScaler | linear model)``: features and target
are standardised with running statistics (so one step size suits any units) and the linear
model learns on the standardised values, one row at a time.

Examples
--------
>>> from pipeline.settings import KpiSettings
>>> model = build_regressor(KpiSettings(model="sgd", learning_rate=0.05))
>>> for i in range(500):
...     x = {"a": float(i % 7), "b": float(i % 3)}
...     model.learn_one(x, 10.0 + 2.0 * x["a"] - 3.0 * x["b"])
>>> effects = feature_effects(model, ["a", "b"])
>>> round(effects["a"] / 2.0, 1), round(effects["b"] / -3.0, 1)  # per SD: 2 * 2.0, 3 * 0.8
(2.0, 0.8)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from river import compose, linear_model, optim, preprocessing

from pipeline.settings import KpiSettings

__all__ = ["build_regressor", "describe", "feature_effects"]

_BIAS = "__bias__"


def build_regressor(settings: KpiSettings) -> Any:
    """A fresh online regressor of kind ``settings.model``."""
    scaler = preprocessing.StandardScaler()
    chain: Any  # river types a Pipeline of a regressor as a Pipeline, not a Regressor
    if settings.model == "bayesian":
        bias = compose.FuncTransformer(_with_bias)
        chain = scaler | bias | linear_model.BayesianLinearRegression(smoothing=settings.smoothing)
    else:
        lr = settings.learning_rate
        optimizer = optim.SGD(lr) if settings.model == "sgd" else optim.Adam(lr)
        chain = scaler | linear_model.LinearRegression(
            optimizer=optimizer, l2=settings.l2, intercept_lr=lr
        )
    return preprocessing.TargetStandardScaler(regressor=chain)


def describe(settings: KpiSettings) -> str:
    """A short name of the configured regressor, for reports.

    >>> describe(KpiSettings())
    'sgd (lr 0.005)'
    >>> describe(KpiSettings(model="bayesian", smoothing=None))
    'bayesian (no forgetting)'
    """
    if settings.model == "bayesian":
        forget = (
            "no forgetting" if settings.smoothing is None else f"smoothing {settings.smoothing}"
        )
        return f"bayesian ({forget})"
    l2 = f", l2 {settings.l2:g}" if settings.l2 else ""
    return f"{settings.model} (lr {settings.learning_rate:g}{l2})"


def feature_effects(model: Any, features: Sequence[str]) -> dict[str, float]:
    """Change of the prediction when one feature rises by one (running) standard deviation.

    The model is linear in the standardised features, so this is its weight on that feature
    in the target's units; the other features stay at their running means. Nothing is learned.
    """
    scaler = next(iter(model.regressor.steps.values()))
    means = {f: float(scaler.means.get(f, 0.0)) for f in features}
    base = float(model.predict_one(means))
    effects = {}
    for feature in features:
        spread = float(scaler.vars.get(feature, 0.0)) ** 0.5
        raised = {**means, feature: means[feature] + spread}
        effects[feature] = float(model.predict_one(raised)) - base if spread > 0 else 0.0
    return effects


def _with_bias(x: dict[str, float]) -> dict[str, float]:
    return {**x, _BIAS: 1.0}
