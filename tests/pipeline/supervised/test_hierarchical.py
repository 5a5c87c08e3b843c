"""Per-type models with partial pooling (``hierarchical``): own weights, shared start, state."""

from __future__ import annotations

import copy
import logging
import math
import random
from collections.abc import Mapping

import pytest

from pipeline.errors import ConfigError
from pipeline.settings import Settings, SupervisedSettings
from pipeline.state import SnapshotCodec
from pipeline.supervised.models import HierarchicalModels, TypeModels, with_type
from pipeline.supervised.snapshots import SupervisedSnapshots
from pipeline.supervised.supervisor import FLEET, SHARED_PREFIX, Supervisor
from pipeline.supervised.targets import Target
from tests.pipeline.supervised.test_supervisor import (
    move_through_snapshots,
    reading,
    run_to_failure,
)

CODEC = SnapshotCodec(b"k" * 32)
SETTINGS = SupervisedSettings(learning_rate=0.05, hierarchical=True, type_scale=1.0)


def opposite_types(models: TypeModels, n: int = 3000) -> None:
    """Type ``up`` fails when ``z`` is high, type ``down`` when it is low; ``w`` is noise."""
    noise = random.Random(0)
    for k in range(n):
        kind, z = ("up", "down")[k % 2], noise.gauss(0.0, 1.0)
        failure = (z > 0) == (kind == "up")
        models.learn({"z": z, "w": noise.gauss(0.0, 1.0)}, Target(failure, 100.0), kind)


def probability(models: TypeModels, x: dict[str, float], kind: str) -> float:
    prediction = models.predict(x, kind)
    assert prediction is not None
    return prediction[0]


class TestHierarchicalModels:
    def test_each_type_learns_its_own_weights_where_one_fleet_model_cannot(self):
        hierarchical, fleet = HierarchicalModels(SETTINGS), TypeModels(SETTINGS)
        opposite_types(hierarchical)
        opposite_types(fleet)
        up, down = hierarchical.type_weights("up"), hierarchical.type_weights("down")
        assert up["z"] > 1.0 and down["z"] < -1.0  # opposite signs, both strong
        high, low = {"z": 1.5, "w": 0.0}, {"z": -1.5, "w": 0.0}
        assert (
            probability(hierarchical, high, "up")
            > 0.8
            > 0.2
            > probability(hierarchical, high, "down")
        )
        assert (
            probability(hierarchical, low, "up")
            < 0.2
            < 0.8
            < probability(hierarchical, low, "down")
        )
        for x in (high, low):  # one model: the types cancel out, z tells nothing
            assert 0.3 < probability(fleet, x, "up") < 0.7

    def test_a_type_never_seen_predicts_with_the_shared_weights_only(self):
        models = HierarchicalModels(SETTINGS)
        for k in range(500):
            z = float(k % 2) * 4 - 2
            models.learn({"z": z}, Target(z > 0, 100.0), "pump")
        shared = models.classifier.weights
        assert models.type_weights("fan") == {"z": shared["z"], "1": 0.0}
        assert models.type_weights("pump")["z"] != shared["z"]  # the pump's deviation
        scaled = 2.0 / 2.0  # z alternated -2 and 2: mean 0, standard deviation 2
        logit = shared["z"] * scaled + models.classifier.intercept
        expected = 1.0 / (1.0 + math.exp(-logit))  # the fleet's, before any fan
        assert expected > 0.5
        assert probability(models, {"z": 2.0}, "fan") == pytest.approx(expected, rel=1e-9)

    def test_a_channel_name_with_a_bar_stays_a_shared_feature(self):
        x = {"x.z": 1.0, "pump|x.z": 3.0}  # channels "x" and "pump|x": valid names
        inputs = with_type(x, "pump", 0.5)
        assert len(inputs) == 2 * len(x) + 1 and {n: inputs[n] for n in x} == x
        models = HierarchicalModels(SETTINGS)
        for k in range(200):
            models.learn(
                {"x.z": float(k % 2), "pump|x.z": float(k % 3)}, Target(k % 2 == 1, 1.0), "pump"
            )
        assert set(models.type_weights("pump")) == {"x.z", "pump|x.z", "1"}
        shared = models.classifier.weights["pump|x.z"]
        assert models.type_weights("fan")["pump|x.z"] == shared  # no type's deviation in it

    def test_a_smaller_type_scale_keeps_the_types_closer_to_the_shared_weights(self):
        def spread(scale: float) -> float:
            models = HierarchicalModels(SETTINGS.model_copy(update={"type_scale": scale}))
            opposite_types(models, 1000)
            return models.type_weights("up")["z"] - models.type_weights("down")["z"]

        assert spread(1.0) > spread(0.3) > spread(0.0) == 0.0

    def test_settings_refuse_combinations_that_cannot_work(self):
        with pytest.raises(ConfigError, match="exclude each other"):
            Settings.load(None, supervised={"hierarchical": True, "fleet_model": True})
        with pytest.raises(ConfigError, match="logistic"):
            Settings.load(None, supervised={"hierarchical": True, "classifier": "hoeffding"})


class TestInTheSupervisor:
    @pytest.fixture
    def trained(self, processor_factory):
        def make():
            processor = processor_factory(
                machine_types={"pump-*": "pump"}, default_type="other", hierarchical=True
            )
            run_to_failure(processor, "pump-1", 0, 100)
            return processor

        return make

    @pytest.fixture
    def processor(self, trained):
        return trained()

    def test_the_fleets_models_learn_and_the_types_keep_their_failures(self, processor):
        supervisor = processor.supervisor
        fleet = supervisor.models[FLEET]
        assert isinstance(fleet, HierarchicalModels) and fleet.learned > 0
        assert supervisor.models["pump"].failures == 1 and supervisor.models["pump"].learned == 0
        assert fleet.type_weights("pump")["1"] != 0.0  # the pump's own bias was learned
        assert dict(supervisor.shared_states())[SHARED_PREFIX + FLEET] is fleet

    def test_a_new_asset_of_a_known_type_predicts_with_its_types_weights(
        self, processor, trained, monkeypatch
    ):
        as_other = trained()  # the same history; then pump-2 is taken for another type
        assert as_other.supervisor is not None
        as_other.supervisor._state_for("pump-2").machine_type = "other"
        fleet = processor.supervisor.models[FLEET]
        assert isinstance(fleet, HierarchicalModels)
        before, seen = copy.deepcopy(fleet), []
        predict = fleet.predict

        def spy(x: dict[str, float], kind: str = "") -> tuple[float, float] | None:
            seen.append(x)
            return predict(x, kind)

        monkeypatch.setattr(fleet, "predict", spy)
        sibling = processor.process(reading("pump-2", 0, 10.0)).score
        stranger = as_other.process(reading("pump-2", 0, 10.0)).score
        assert processor.supervisor.assets["pump-2"].machine_type == "pump"
        assert sibling is not None and stranger is not None
        assert stranger.fault_probability is not None  # an unseen type: the shared weights
        assert sibling.fault_probability != stranger.fault_probability
        pump, scaled = before.type_weights("pump"), before.scaler.transform_one(seen[0])
        logit = before.classifier.intercept + pump["1"] + sum(pump[n] * scaled[n] for n in scaled)
        expected = 1.0 / (1.0 + math.exp(-logit))  # the pump's own weights, on pump-2's features
        assert sibling.fault_probability == pytest.approx(expected, abs=1e-6)

    def test_a_restored_service_predicts_exactly_like_the_original(
        self, processor, processor_factory
    ):
        restored = processor_factory(
            machine_types={"pump-*": "pump"}, default_type="other", hierarchical=True
        )
        move_through_snapshots(processor, restored, "pump-1")
        assert isinstance(restored.supervisor.models[FLEET], HierarchicalModels)
        for second in range(106, 200):
            for asset in ("pump-1", "pump-2"):
                value = reading(asset, second, 10.0 + (second > 180))
                assert restored.process(value) == processor.process(value)


def restored(snapshot_mode: Mapping[str, object], mode: Mapping[str, object], caplog) -> Supervisor:
    """A supervisor in ``mode`` after restoring the fleet's models learned in ``snapshot_mode``."""
    before = Supervisor(Settings.load(None, supervised={"enabled": True, **snapshot_mode}))
    models = before._models_for(FLEET)
    models.learn({"z": 1.0}, Target(True, 10.0), "pump")
    after = Supervisor(Settings.load(None, supervised={"enabled": True, **mode}))
    key = SHARED_PREFIX + FLEET
    with caplog.at_level(logging.WARNING, logger="pipeline.supervised.supervisor"):
        assert (
            SupervisedSnapshots(after).unbundle(key, CODEC.decode(key, CODEC.encode(key, models)))
            is None
        )
    return after


class TestRestoredIntoAnotherMode:
    FLEET_MODEL = {"fleet_model": True}
    HIERARCHICAL = {"hierarchical": True}

    def test_the_same_mode_takes_the_snapshot(self, caplog):
        for mode, kind in ((self.FLEET_MODEL, TypeModels), (self.HIERARCHICAL, HierarchicalModels)):
            supervisor = restored(mode, mode, caplog)
            assert type(supervisor.models[FLEET]) is kind and supervisor.models[FLEET].learned == 1
        assert "refused" not in caplog.text

    @pytest.mark.parametrize(
        ("snapshot_mode", "mode", "kind"),
        [
            (FLEET_MODEL, HIERARCHICAL, HierarchicalModels),
            (HIERARCHICAL, FLEET_MODEL, TypeModels),
            (HIERARCHICAL, {}, None),
            (FLEET_MODEL, {}, None),
        ],
    )
    def test_another_mode_refuses_it_and_starts_afresh(self, snapshot_mode, mode, kind, caplog):
        supervisor = restored(snapshot_mode, mode, caplog)
        assert "refused state" in caplog.text
        assert FLEET not in supervisor.models
        if kind is not None:
            fresh = supervisor._predictor(supervisor._models_for("pump"))
            assert type(fresh) is kind and fresh.learned == 0

    def test_a_changed_type_scale_refuses_it_and_starts_afresh(self, caplog):
        supervisor = restored(
            {"hierarchical": True}, {"hierarchical": True, "type_scale": 0.3}, caplog
        )
        assert "refused state" in caplog.text and "type_scale 0.5" in caplog.text
        assert FLEET not in supervisor.models
        fresh = supervisor._models_for(FLEET)
        assert isinstance(fresh, HierarchicalModels) and fresh.type_scale == 0.3

    def test_a_changed_learning_rate_applies_to_the_restored_weights(self, caplog):
        supervisor = restored(
            {"hierarchical": True, "learning_rate": 0.05},
            {"hierarchical": True, "learning_rate": 0.01},
            caplog,
        )
        models = supervisor.models[FLEET]
        assert isinstance(models, HierarchicalModels) and models.learned == 1
        assert models.classifier.optimizer.learning_rate == 0.01
        assert "refused" not in caplog.text
