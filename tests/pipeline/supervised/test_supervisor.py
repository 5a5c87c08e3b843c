"""The supervisor inside the processor: labels, fleet-wide models, snapshots, compatibility."""

from __future__ import annotations

import random

import orjson
import pytest

from pipeline.errors import ConfigError
from pipeline.messages import Score, encode
from pipeline.processor import Processor, Source
from pipeline.settings import Settings
from pipeline.state import SnapshotCodec
from pipeline.supervised.cusum import record_of
from pipeline.supervised.models import TypeModels
from pipeline.supervised.snapshots import AssetSnapshot, SupervisedSnapshots
from pipeline.supervised.supervisor import FLEET, SHARED_PREFIX

CODEC = SnapshotCodec(b"k" * 32)


def reading(asset: str, ts_s: int, value: float) -> bytes:
    noise = random.Random(f"{asset}{ts_s}")
    values = {"t": value + noise.gauss(0, 0.1), "u": 5.0 + noise.gauss(0, 0.1)}
    return orjson.dumps({"asset": asset, "ts": ts_s * 1000, "values": values})


def label(asset: str, ts_s: int, kind: str) -> bytes:
    return orjson.dumps({"asset": asset, "ts": ts_s * 1000, "kind": kind})


def move_through_snapshots(original: Processor, restored: Processor, asset: str) -> None:
    """Give ``restored`` the signed snapshots of ``asset`` and of the shared models of
    ``original``, as a restart restores them."""
    snapshots = SupervisedSnapshots(original.supervisor)
    into = SupervisedSnapshots(restored.supervisor)
    value = CODEC.encode(asset, snapshots.bundle(asset, original.assets[asset]))
    restored.assets[asset] = into.unbundle(asset, CODEC.decode(asset, value))
    for key, models in snapshots.shared():
        assert into.unbundle(key, CODEC.decode(key, CODEC.encode(key, models))) is None


def run_to_failure(processor: Processor, asset: str, start: int, fail_at: int) -> None:
    """Healthy readings, a rising value over the last 15 s, the failure, the repair."""
    for second in range(start, fail_at):
        value = 10.0 + max(0, second - (fail_at - 15)) * 0.5
        processor.process(reading(asset, second, value))
    assert processor.process_label(label(asset, fail_at, "failure")) is None
    assert processor.process_label(label(asset, fail_at + 5, "maintenance")) is None


class TestSupervisor:
    def test_scores_carry_fault_probability_and_rul_once_a_model_learned(self, processor_factory):
        processor = processor_factory()
        first = processor.process(reading("a", 0, 10.0)).score
        assert first is not None and first.fault_probability is None
        run_to_failure(processor, "a", 1, 100)
        score = processor.process(reading("a", 106, 10.0)).score
        assert score is not None and 0.0 <= score.fault_probability <= 1.0
        assert 0.0 <= score.rul_hours <= 20 / 3600
        assert processor.supervisor is not None and processor.supervisor.prequential.n > 0

    def test_a_new_asset_of_the_same_type_uses_its_siblings_models(self, processor_factory):
        processor = processor_factory(machine_types={"pump-*": "pump"}, default_type="other")
        run_to_failure(processor, "pump-1", 0, 100)
        sibling = processor.process(reading("pump-2", 0, 10.0)).score
        stranger = processor.process(reading("fan-1", 0, 10.0)).score
        assert sibling is not None and sibling.fault_probability is not None
        assert stranger is not None and stranger.fault_probability is None
        assert set(processor.supervisor.models) == {"pump", "other"}

    def test_bad_labels_are_dead_lettered_with_their_reason(self, processor_factory):
        processor = processor_factory()
        assert processor.process_label(b"{").reason == "malformed_json"
        assert processor.process_label(label("a", 1, "exploded")).reason == "wrong_type"
        source = Source("sensor.labels", 0, 7, b"b")
        letter = processor.process_label(label("a", 1, "failure"), source)
        assert letter.reason == "key_mismatch" and letter.source.offset == 7

    def test_without_supervision_labels_are_accepted_and_scores_keep_the_old_schema(self):
        processor = Processor(Settings.load(None))
        assert processor.process_label(label("a", 1, "failure")) is None
        score = processor.process(reading("a", 2, 1.0)).score
        assert score is not None
        assert set(orjson.loads(encode(score))) == {
            "asset", "ts", "score", "threshold", "anomaly", "model", "contributions"
        }  # fmt: skip

    def test_machine_types_match_ids_then_patterns_then_the_default(self, processor_factory):
        processor = processor_factory(machine_types={"press-7": "big", "press-*": "press"})
        kinds = [processor.supervisor.machine_type(a) for a in ("press-7", "press-1", "x")]
        assert kinds == ["big", "press", "default"]


class TestSnapshots:
    def test_a_restored_asset_continues_exactly_like_the_original(self, processor_factory):
        original = processor_factory()
        run_to_failure(original, "a", 0, 100)
        restored = processor_factory()
        move_through_snapshots(original, restored, "a")
        for second in range(106, 200):
            value_bytes = reading("a", second, 10.0 + (second > 180))
            assert restored.process(value_bytes) == original.process(value_bytes)

    def test_with_a_condition_channel_a_restored_asset_continues_exactly_alike(
        self, processor_factory
    ):
        make = {"condition_channel": "u", "symptom_bands": False,
                "alerts": {"average_readings": 20}}  # fmt: skip
        original = processor_factory(**make)
        run_to_failure(original, "a", 0, 100)
        state = original.supervisor.assets["a"]
        assert state.features.condition is not None
        assert not any(name.startswith("symptom") for name in state.features.names)
        assert {"t.drift", "drift", "alarm_rate"} <= set(state.features.names)
        restored = processor_factory(**make)
        bundle = SupervisedSnapshots(original.supervisor).bundle("a", original.assets["a"])
        value = CODEC.encode("a", bundle)
        into = SupervisedSnapshots(restored.supervisor)
        restored.assets["a"] = into.unbundle("a", CODEC.decode("a", value))
        for key, models in SupervisedSnapshots(original.supervisor).shared():
            into.unbundle(key, CODEC.decode(key, CODEC.encode(key, models)))
        for second in range(106, 2000):
            value_bytes = reading("a", second, 10.0 + (second > 1980))
            assert restored.process(value_bytes) == original.process(value_bytes)
        assert state.features.condition.channels["t"].n == 240  # its baseline was learned

    def test_the_fault_alert_policy_sees_the_moving_average_of_the_probability(
        self, processor_factory
    ):
        """What the policy evaluates (``p_mean``) follows the moving average of the
        probabilities the plain processor's policy evaluates, reading by reading."""
        plain, averaged = processor_factory(), processor_factory(alerts={"average_readings": 50})
        for processor in (plain, averaged):
            run_to_failure(processor, "a", 0, 100)
        expected = averaged.supervisor.assets["a"].p_mean
        probabilities = []
        for second in range(106, 136):
            value = 10.0 + max(0, second - 120) * 0.5  # rising again: the probability moves
            plain.process(reading("a", second, value))
            averaged.process(reading("a", second, value))
            p = plain.supervisor.assets["a"].p_mean
            probabilities.append(p)
            expected += (p - expected) / 50
            assert averaged.supervisor.assets["a"].p_mean == pytest.approx(expected, abs=1e-12)
        assert max(probabilities) > 0.0 and len(set(probabilities)) > 1

    def test_a_snapshot_of_the_format_before_supervision_still_restores(self, processor_factory):
        old = Processor(Settings.load(None))
        for second in range(50):
            old.process(reading("a", second, 10.0))
        value = CODEC.encode("a", old.assets["a"])  # a bare AssetState
        processor = processor_factory()
        state = SupervisedSnapshots(processor.supervisor).unbundle("a", CODEC.decode("a", value))
        processor.assets["a"] = state
        outcome = processor.process(reading("a", 50, 10.0))
        expected = old.process(reading("a", 50, 10.0)).score
        assert outcome.score is not None and expected is not None
        assert outcome.score.score == expected.score

    def test_with_a_fleet_model_every_type_predicts_with_the_one_learned(self, processor_factory):
        processor = processor_factory(
            machine_types={"pump-*": "pump"}, default_type="other", fleet_model=True
        )
        run_to_failure(processor, "pump-1", 0, 100)
        stranger = processor.process(reading("fan-1", 0, 10.0)).score
        assert stranger is not None and stranger.fault_probability is not None
        supervisor = processor.supervisor
        assert supervisor is not None
        fleet = supervisor.models[FLEET]
        assert fleet.learned > 0 and supervisor.models["pump"].learned == 0
        assert supervisor.models["pump"].failures == 1  # the type's count (min_failures)
        assert dict(supervisor.shared_states())[SHARED_PREFIX + FLEET] is fleet
        fresh = processor_factory(fleet_model=True)
        key = SHARED_PREFIX + FLEET
        restored = SupervisedSnapshots(fresh.supervisor)
        assert restored.unbundle(key, CODEC.decode(key, CODEC.encode(key, fleet))) is None
        assert (
            fresh.supervisor is not None and fresh.supervisor.models[FLEET].learned == fleet.learned
        )

    def test_the_more_trained_copy_of_a_types_models_wins(self, processor_factory):
        processor = processor_factory()
        settings = processor.settings.supervised
        small, large = TypeModels(settings), TypeModels(settings)
        small.learned, large.learned = 5, 50
        snapshots = SupervisedSnapshots(processor.supervisor)
        snapshots.unbundle(SHARED_PREFIX + "pump", large)
        snapshots.unbundle(SHARED_PREFIX + "pump", small)
        assert processor.supervisor.models["pump"] is large

    def test_with_a_fleet_model_a_types_failures_and_drift_record_tell_the_later_copy(
        self, processor_factory
    ):
        """With ``fleet_model`` a type's own models learn nothing: its failure count and
        drift-alarm record are what a later snapshot has more of."""
        processor = processor_factory(fleet_model=True)
        settings = processor.settings.supervised
        empty, later = TypeModels(settings), TypeModels(settings)
        later.failures = 3
        record_of(later).add("flow-", warned=True)
        snapshots = SupervisedSnapshots(processor.supervisor)
        snapshots.unbundle(SHARED_PREFIX + "pump", empty)
        snapshots.unbundle(SHARED_PREFIX + "pump", later)
        assert processor.supervisor.models["pump"] is later
        snapshots.unbundle(SHARED_PREFIX + "pump", empty)
        assert processor.supervisor.models["pump"] is later

    def test_with_a_fleet_model_a_types_models_hold_no_learners_until_it_predicts_alone(
        self, processor_factory
    ):
        """A type's own learners would idle while the fleet's predict (and fill snapshots);
        restored where the type predicts on its own, they start afresh, its failures kept."""
        processor = processor_factory(
            machine_types={"pump-*": "pump"}, default_type="other", fleet_model=True
        )
        run_to_failure(processor, "pump-1", 0, 100)
        assert processor.supervisor is not None
        pump = processor.supervisor.models["pump"]
        assert pump.classifier is None and pump.regressor is None and pump.failures == 1
        alone = processor_factory(machine_types={"pump-*": "pump"}, default_type="other")
        key = SHARED_PREFIX + "pump"
        SupervisedSnapshots(alone.supervisor).unbundle(
            key, CODEC.decode(key, CODEC.encode(key, pump))
        )
        assert alone.supervisor is not None
        restored = alone.supervisor.models["pump"]
        assert restored.failures == 1 and restored.classifier is not None
        assert restored.predict({"score": 0.5}) is None  # nothing learned by these yet
        run_to_failure(alone, "pump-1", 200, 300)
        assert restored.learned > 0 and restored.failures == 2

    def test_a_restored_classifier_steps_at_the_configured_learning_rate(self, processor_factory):
        before = processor_factory(learning_rate=0.05)
        run_to_failure(before, "a", 0, 100)
        assert before.supervisor is not None
        models = before.supervisor.models["default"]
        key = SHARED_PREFIX + "default"
        after = processor_factory(learning_rate=0.2)
        SupervisedSnapshots(after.supervisor).unbundle(
            key, CODEC.decode(key, CODEC.encode(key, models))
        )
        assert after.supervisor is not None
        restored = after.supervisor.models["default"]
        logistic = list(restored.classifier.steps.values())[-1]
        assert restored.learned == models.learned > 0
        assert logistic.optimizer.learning_rate == 0.2

    def test_drift_settings_that_could_never_act_are_refused(self):
        with pytest.raises(ConfigError, match="condition_channel"):
            Settings.load(None, supervised={"cusum": {"enabled": True}})
        with pytest.raises(ConfigError, match="condition_channel"):
            Settings.load(None, supervised={"cusum_features": True})
        with pytest.raises(ConfigError, match="on_probability"):
            Settings.load(None, supervised={"alerts": {"on_probability": False}})

    def test_something_else_under_a_models_key_is_refused(self, processor_factory, caplog):
        processor = processor_factory()
        SupervisedSnapshots(processor.supervisor).unbundle(SHARED_PREFIX + "pump", {"x": 1})
        assert "pump" not in processor.supervisor.models and "refused" in caplog.text

    def test_a_bundle_read_with_supervision_off_gives_the_detector_state(self):
        bundle = AssetSnapshot("detector", None)
        assert SupervisedSnapshots(None).unbundle("a", bundle) == "detector"


def test_score_fields_are_optional_in_the_schema():
    score = Score("a", 1, 0.5, 0.9, False, "m", {}, fault_probability=0.25, rul_hours=1.5)
    assert orjson.loads(encode(score))["fault_probability"] == 0.25
    assert b"rul_hours" not in encode(Score("a", 1, 0.5, 0.9, False, "m"))
