"""The condition drift's CUSUMs as the models' features: named, finite, rising on wear."""

from __future__ import annotations

import math
import pickle

from pipeline.supervised.condition import ConditionDrift
from pipeline.supervised.features import AssetFeatures
from tests.pipeline.supervised.test_condition import Machine


def features(cusums: bool) -> AssetFeatures:
    condition = ConditionDrift("load_pct", delay_s=0.0, k=0.35)
    return AssetFeatures(200, 600.0, condition=condition, bands=False, cusums=cusums)


def test_each_channel_has_finite_cusum_features_that_rise_on_wear():
    asset, machine = features(cusums=True), Machine(4)
    for second in range(2500):
        x = asset.update(second * 1000, machine.reading(), score=0.1, learn=True)
        assert list(x) == list(asset.names)
        assert all(math.isfinite(value) for value in x.values())
    for name in ("cusum", "current.cusum+", "current.cusum-", "temp.cusum+", "temp.cusum-"):
        assert name in x
    healthy = x["current.cusum+"]
    for second in range(2500, 2800):
        x = asset.update(second * 1000, machine.reading(wear_sd=0.7), score=0.1, learn=True)
    assert list(x) == list(asset.names)
    assert all(math.isfinite(value) for value in x.values())
    assert x["current.cusum+"] > max(math.log1p(20.0), healthy)
    assert x["cusum"] >= x["current.cusum+"]
    restored = pickle.loads(pickle.dumps(asset))
    assert restored.names == asset.names and restored.cusums
    asset.restart(2_800_000)
    x = asset.update(2_800_000, machine.reading(), score=0.1, learn=False)
    assert x["cusum"] == 0.0 and x["current.cusum+"] == 0.0


def test_without_the_setting_or_a_condition_there_are_none():
    names = features(cusums=False).update(0, {"load_pct": 50.0, "t": 1.0}, 0.1, True)
    assert not any("cusum" in name for name in names)
    plain = AssetFeatures(200, 600.0, cusums=True)
    assert not plain.cusums
    assert not any("cusum" in name for name in plain.update(0, {"t": 1.0}, 0.1, True))
