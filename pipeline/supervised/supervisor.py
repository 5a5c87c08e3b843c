"""The label join: per-asset buffers and features, per-machine-type models, test-then-train.

:meth:`Supervisor.attach` runs after the detector scored a reading: it computes the asset's
features, predicts the fault probability and remaining useful life with its machine type's
models, buffers the vector, learns what resolved meanwhile (prequential metrics first) and
feeds the fault probability to the asset's own alert policy. :meth:`Supervisor.on_label`
takes a label: a ``failure`` resolves the buffer and records the warning lead time, a
``maintenance`` ends the machine's standstill.

State: :attr:`Supervisor.assets` (per asset, snapshotted with the asset's detector) and
:attr:`Supervisor.models` (per machine type, shared by the assets of every partition this
instance owns; snapshotted to each of them, see :mod:`pipeline.partitions`).

Examples
--------
>>> from pipeline.messages import Label, Reading, Score
>>> from pipeline.settings import Settings
>>> settings = Settings.load(None, supervised={"horizon_s": 10, "sample_interval_s": 0,
...                                           "label_delay_s": 0})
>>> supervisor = Supervisor(settings)
>>> def score(ts, value):
...     reading = Reading("a", ts, {"t": value})
...     return supervisor.attach(reading, Score("a", ts, 0.1, 0.9, False, "m"))[0]
>>> score(0, 1.0).fault_probability is None  # nothing learned yet
True
>>> for second in range(1, 60):
...     _ = score(second * 1000, 1.0 + (second > 45))
>>> supervisor.on_label(Label("a", 60_000, "failure"))
>>> supervisor.models["default"].failures, supervisor.prequential.n > 0
(1, True)
>>> score(61_000, 0.0).fault_probability is not None
True
"""

from __future__ import annotations

import fnmatch
import logging
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from pipeline.alerts import AlertPolicy, top_channels
from pipeline.messages import Alert, Label, Reading, Score
from pipeline.settings import Settings
from pipeline.supervised.buffer import LabelBuffer, Resolved
from pipeline.supervised.condition import ConditionDrift
from pipeline.supervised.cusum import Crossings, record_of
from pipeline.supervised.features import AssetFeatures
from pipeline.supervised.models import HierarchicalModels, TypeModels
from pipeline.supervised.prequential import Prequential

__all__ = ["FLEET", "AssetSupervision", "SHARED_PREFIX", "Supervisor"]
logger = logging.getLogger(__name__)

SHARED_PREFIX = "\0type:"
"""Key prefix of a machine type's models on the state topic (never a valid asset id)."""
FLEET = "\0fleet"
"""The models' key with ``fleet_model`` or ``hierarchical`` (never a machine type's name)."""
_RAISED_KEPT = 64


@dataclass(slots=True)
class AssetSupervision:
    """Everything the supervised models remember about one asset."""

    machine_type: str
    features: AssetFeatures
    buffer: LabelBuffer
    policy: AlertPolicy
    raised: deque[int] = field(default_factory=lambda: deque(maxlen=_RAISED_KEPT))
    """Times of the fault alerts raised since the last failure (for the lead time)."""
    p_mean: float = 0.0
    """Moving average of the fault probability (``alerts.average_readings``)."""
    crossings: Crossings = field(default_factory=Crossings)
    """The drift alarm's first crossings awaiting their label (``[supervised.cusum]``)."""


class Supervisor:
    """Failure-within-horizon and RUL prediction learned online from delayed labels."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings.supervised
        self.assets: dict[str, AssetSupervision] = {}
        self.models: dict[str, TypeModels] = {}
        self.prequential = Prequential(self.settings.alerts.threshold)
        self.baseline = Prequential(self.settings.alerts.threshold)
        """The same test-then-train metrics of the detector's score taken as the probability."""
        self.changed: set[str] = set()
        """Machine types whose models learned since the last snapshot."""
        self.labels_seen: dict[str, int] = {}
        self.learned: dict[bool, int] = {True: 0, False: 0}
        self.new_leads: list[float | None] = []
        """Lead times of failures since :meth:`drain_leads` (for metrics)."""
        self._horizon_ms = int(self.settings.horizon_s * 1000)
        self._raise_after = settings.alerts.raise_after
        """The detector's alarm rule (the drift alarm counts only crossings before it)."""
        self._model_name = f"supervised:{self.settings.classifier}"

    # --- the data path -------------------------------------------------------------------

    def attach(self, reading: Reading, score: Score) -> tuple[Score, Alert | None]:
        """Predict for a scored reading, learn what resolved; the score and a fault alert."""
        state = self._state_for(reading.asset)
        learn = not score.anomaly and not state.buffer.down(reading.ts)
        x = state.features.update(reading.ts, reading.values, score.score, learn, score.anomaly)
        models = self._models_for(state.machine_type)
        prediction = self._predictor(models).predict(x, state.machine_type)
        p, rul = prediction if prediction is not None else (None, None)
        resolved = state.buffer.add(reading.ts, state.features.names, list(x.values()), p, rul)
        self._learn(state, resolved)
        drifted = self._drift_alarm(state, models, reading.ts, score.anomaly)
        alert = self._alert(state, models, reading.ts, p, score, drifted)
        if p is None or rul is None:
            return score, alert
        scored = replace(score, fault_probability=round(p, 6), rul_hours=round(rul / 3600, 6))
        return scored, alert

    def on_label(self, label: Label) -> None:
        """Take a label of an asset: failures resolve its buffer, maintenance ends a standstill."""
        self.labels_seen[label.kind] = self.labels_seen.get(label.kind, 0) + 1
        state = self._state_for(label.asset)
        if label.kind == "failure":
            self._learn(state, state.buffer.on_failure(label.ts))
            models = self._models_for(state.machine_type)
            models.failures += 1
            self._crossings(state).on_failure(label.ts, self._horizon_ms, record_of(models))
            self.changed.add(state.machine_type)
            self._record_lead(state, label.ts)
        elif label.kind == "maintenance":
            state.buffer.on_maintenance(label.ts)
            state.features.restart(label.ts)
            self._crossings(state).clear()

    def drain_leads(self) -> list[float | None]:
        """Lead times recorded since the last call."""
        leads, self.new_leads = self.new_leads, []
        return leads

    def machine_type(self, asset: str) -> str:
        """The configured machine type of ``asset`` (first matching pattern, else the default)."""
        for pattern, kind in self.settings.machine_types.items():
            if asset == pattern or fnmatch.fnmatchcase(asset, pattern):
                return kind
        return self.settings.default_type

    # --- state for snapshots ---------------------------------------------------------------

    def shared_states(self) -> Iterator[tuple[str, TypeModels]]:
        """``(state key, models)`` of every machine type whose models changed."""
        for kind in sorted(self.changed):
            yield SHARED_PREFIX + kind, self.models[kind]

    def restore_shared(self, key: str, models: TypeModels) -> None:
        """Take a machine type's snapshotted models, unless those held went further or they
        are not the kind of models the settings ask for (refused with a log line)."""
        kind = key.removeprefix(SHARED_PREFIX)
        refusal = self._refusal(kind, models)
        if refusal is not None:
            logger.warning("refused state %r: %s; they start afresh", key, refusal)
            return
        held = self.models.get(kind)
        if held is None or _progress(models) > _progress(held):
            self.models[kind] = models
            if kind == FLEET or not self._shared:
                models.with_learners(self.settings)  # (a type's, snapshotted while shared)
                models.retune(self.settings)
            else:  # the fleet's models predict for this type: its own would idle
                models.classifier = models.regressor = None

    def clear_shared(self) -> None:
        """Forget the machine types' models (no partition is owned any more)."""
        self.models.clear()
        self.changed.clear()

    # --- internals -----------------------------------------------------------------------

    def _refusal(self, kind: str, models: TypeModels) -> str | None:
        """Why snapshotted ``models`` of ``kind`` cannot serve the settings (``None``: they can;
        e.g. a snapshot of ``fleet_model`` restored with ``hierarchical`` on)."""
        if kind != FLEET:
            wanted: type[TypeModels] = TypeModels
        elif self.settings.hierarchical:
            wanted = HierarchicalModels
        elif self.settings.fleet_model:
            wanted = TypeModels
        else:
            return "the fleet's models, but supervised.fleet_model and hierarchical are off"
        if type(models) is not wanted:
            return f"{type(models).__name__}, but the settings ask for {wanted.__name__}"
        if isinstance(models, HierarchicalModels) and models.type_scale != self.settings.type_scale:
            return (
                f"learned with type_scale {models.type_scale:g}, "
                f"but supervised.type_scale is {self.settings.type_scale:g}"
            )
        return None

    def _state_for(self, asset: str) -> AssetSupervision:
        state = self.assets.get(asset)
        if state is None:
            s = self.settings
            state = self.assets[asset] = AssetSupervision(
                machine_type=self.machine_type(asset),
                features=AssetFeatures(
                    s.baseline_readings,
                    s.horizon_s,
                    s.drift_features,
                    None
                    if s.condition_channel is None
                    else ConditionDrift(s.condition_channel, k=s.cusum.k),
                    s.symptom_bands,
                    s.cusum_features,
                ),
                buffer=LabelBuffer(
                    self._horizon_ms,
                    int(s.label_delay_s * 1000),
                    int(s.sample_interval_s * 1000),
                    s.buffer_size,
                    int(s.settle_s * 1000),
                ),
                policy=AlertPolicy(asset, s.alerts),
            )
        return state

    def _models_for(self, kind: str) -> TypeModels:
        models = self.models.get(kind)
        if models is None:
            if kind == FLEET and self.settings.hierarchical:
                models = HierarchicalModels(self.settings)
            else:  # a type's own learners only when they predict (not :attr:`_shared`)
                models = TypeModels(self.settings, learners=kind == FLEET or not self._shared)
            self.models[kind] = models
        return models

    @property
    def _shared(self) -> bool:
        """The fleet's models predict and learn (``fleet_model``, ``hierarchical``)."""
        return self.settings.fleet_model or self.settings.hierarchical

    def _predictor(self, models: TypeModels) -> TypeModels:
        """The models that predict and learn: the type's, or the fleet's (:attr:`_shared`)."""
        return self._models_for(FLEET) if self._shared else models

    def _learn(self, state: AssetSupervision, resolved: list[Resolved]) -> None:
        """Score each resolved vector's earlier prediction, then learn it (in event time)."""
        if not resolved:
            return
        models = self._predictor(self._models_for(state.machine_type))
        for x, (item, target) in state.buffer.vectors(resolved):
            if item.p is not None and item.rul is not None:
                self.prequential.update(target.failure, item.p, target.rul_s, item.rul)
                self.baseline.update(target.failure, x["score"], target.rul_s, item.rul)
            models.learn(x, target, state.machine_type)
            self.learned[target.failure] += 1
        self.changed.add(FLEET if self._shared else state.machine_type)

    def _crossings(self, state: AssetSupervision) -> Crossings:
        crossings = getattr(state, "crossings", None)  # snapshots made before the field
        if crossings is None:
            crossings = state.crossings = Crossings()
        return crossings

    def _drift_alarm(
        self, state: AssetSupervision, models: TypeModels, ts: int, anomaly: bool
    ) -> list[str]:
        """The trusted CUSUMs of the condition drift at or above ``h`` (none when off)."""
        cusum, condition = self.settings.cusum, state.features.condition
        if not cusum.enabled or condition is None:
            return []
        crossings, record = self._crossings(state), record_of(models)
        if condition.monitoring():  # not the restart's anomalies: only while the CUSUMs run
            crossings.detector(anomaly, self._raise_after)
        crossed = condition.crossed(cusum.h)
        crossings.see(ts, crossed)
        if crossings.expire(ts, self._horizon_ms + int(self.settings.label_delay_s * 1000), record):
            self.changed.add(state.machine_type)  # the record is in the type's snapshot
        return [n for n in crossed if record.trusted(n, cusum.min_warnings, cusum.false_ratio)]

    def _alert(
        self,
        state: AssetSupervision,
        models: TypeModels,
        ts: int,
        p: float | None,
        score: Score,
        drifted: list[str],
    ) -> Alert | None:
        down = state.buffer.down(ts)
        ready = p is not None and models.failures >= self.settings.min_failures and not down
        top = top_channels(score.contributions)
        value = p if ready and p is not None else 0.0
        rate = 1.0 / self.settings.alerts.average_readings
        if rate < 1.0:
            mean = getattr(state, "p_mean", 0.0)  # snapshots made before the field: 0
            value = mean + rate * (value - mean)
        state.p_mean = value
        if not self.settings.alerts.on_probability:
            value = 0.0
        if drifted and not down:
            value = 1.0
        alert = state.policy.evaluate(ts, value, top, "")
        if alert is None:
            return None
        alert = replace(alert, alert_id=f"{alert.alert_id}:fault", model=self._model_name)
        if alert.state == "raised":
            state.raised.append(ts)
            what = f"drift ({', '.join(drifted)})" if drifted else "fault probability"
            alert = replace(alert, reason=f"{what}: {alert.reason}")
        return alert

    def _record_lead(self, state: AssetSupervision, failure_ts: int) -> None:
        window = [ts for ts in state.raised if failure_ts - self._horizon_ms <= ts <= failure_ts]
        lead = (failure_ts - window[0]) / 1000.0 if window else None
        self.prequential.add_lead(lead)
        self.new_leads.append(lead)
        state.raised.clear()


def _progress(models: TypeModels) -> int:
    """How far a machine type's models went: what they learned, plus the failures and drift
    crossings counted (with the fleet's models a type's own models learn nothing, and these
    alone tell a later snapshot from an earlier one)."""
    record = getattr(models, "drift_record", None)
    counted = 0 if record is None else sum(sum(counts) for counts in record.counts.values())
    return models.learned + models.failures + counted
