"""One typed, frozen settings object: defaults < TOML file < ``LINEWATCH_*`` environment < flags.

Each component receives only its slice (``TopicSettings``, ``ModelSettings``, ...). Nested values
come from the environment with a double underscore, e.g. ``LINEWATCH_ALERTS__RAISE_AFTER=5``;
librdkafka properties pass through unchanged in ``kafka`` (``security.protocol``, ``sasl.*``,
``ssl.*``), e.g. ``LINEWATCH_KAFKA='{"security.protocol": "SASL_SSL"}'``.

Examples
--------
>>> Settings.load(None).topics.readings
'sensor.readings'
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from pipeline.errors import ConfigError

__all__ = [
    "DEAD_LETTER_HEADROOM_BYTES",
    "PRODUCER_MESSAGE_MAX_BYTES",
    "AlertSettings",
    "BridgeSettings",
    "CusumSettings",
    "DetectorKind",
    "FaultAlertSettings",
    "KpiModel",
    "KpiSettings",
    "ModelSettings",
    "MqttSettings",
    "OpcuaSettings",
    "ServeSettings",
    "Settings",
    "StateSettings",
    "SupervisedSettings",
    "TopicSettings",
]

PRODUCER_MESSAGE_MAX_BYTES = 1_000_000
"""librdkafka's default ``message.max.bytes``: the largest output (value, key and headers)
a producer takes; a larger one is refused (``MSG_SIZE_TOO_LARGE``) before it is sent."""
DEAD_LETTER_HEADROOM_BYTES = 4096
"""What a dead letter may carry beside its value (cut at ``serve.max_message_bytes``): its
key and ``error.message`` (each cut at 1 KiB, :mod:`pipeline.emit`), the other headers
(the source topic name: at most 249) and the record's framing."""


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TopicSettings(_Section):
    """Topic names and the partition count of ``sensor.readings`` (and ``linewatch.state``)."""

    readings: str = "sensor.readings"
    labels: str = "sensor.labels"
    scores: str = "sensor.scores"
    alerts: str = "sensor.alerts"
    deadletter: str = "sensor.deadletter"
    state: str = "linewatch.state"
    partitions: int = Field(default=3, ge=1)


DetectorKind = Literal[
    "hst",
    "hst_features",
    "robust",
    "mahalanobis",
    "ensemble",
    "extremes",
    "zscore",
    "artime",
    "extremes_artime",
]
FeatureKind = Literal["value", "delta", "mean", "std"]


class ModelSettings(_Section):
    """The per-asset detector (``kind``) and its hyperparameters.

    ``hst`` is margin-min-max scaling | river HalfSpaceTrees | score calibration on the raw
    channels; ``hst_features`` the same on the ``features`` stage; ``robust`` rolling median/IQR
    z-scores per channel; ``mahalanobis`` an online covariance's Mahalanobis distance;
    ``ensemble`` the mean of ``members``' probabilities; ``extremes`` how far each channel's
    value, recent mean and change since one season ago break out of their recent range,
    reported once per event (the NAB configuration); ``zscore`` the calibrated largest
    per-channel running z-score (the light one); ``artime`` adaptive-resonance clusters of
    downsampled windows, reporting a window no cluster accepts; ``extremes_artime`` extremes'
    reports raised where ARTime reports the same reading. See :mod:`pipeline.detectors`.
    """

    kind: DetectorKind = "mahalanobis"
    n_trees: int = Field(default=25, ge=1)
    height: int = Field(default=8, ge=1)
    window_size: int = Field(default=250, ge=2)
    seed: int = 42
    scaler_margin: float = Field(default=0.25, ge=0.0, lt=0.5)
    confirm_z: float = Field(default=4.0, gt=0.0)
    """The score is damped by ``min(1, max|z| / confirm_z)`` over the channels."""
    outlier_z: float = Field(default=6.0, gt=0.0)
    """A reading with a channel this many standard deviations out is scored, never learned."""
    calibration_window: int = Field(default=10_000, ge=10)
    """Recent normal raw scores against which a raw score's tail probability is taken."""
    channels: tuple[str, ...] | None = None
    """Channels the model sees; ``None`` means every numeric channel of the reading."""
    features: tuple[FeatureKind, ...] = ("value", "delta", "mean", "std")
    """Per-channel features for ``hst_features``: the value, its change, rolling mean/std."""
    feature_window: int = Field(default=10, ge=2)
    """Readings in the rolling mean/std of the ``features`` stage."""
    smooth: int = Field(default=5, ge=1)
    """``robust``/``mahalanobis``: each channel is averaged over this many recent readings."""
    robust_window: int = Field(default=500, ge=10)
    """Learned readings per channel in the rolling median/IQR of ``robust``."""
    forget: float = Field(default=0.0, ge=0.0, lt=1.0)
    """``mahalanobis``: exponential forgetting per learned reading (0 = all readings count)."""
    ridge: float = Field(default=1e-3, ge=0.0)
    """``mahalanobis``: variance-relative ridge added to the covariance diagonal."""
    min_rel_std: float = Field(default=0.002, ge=0.0)
    """``robust``/``mahalanobis``: a channel's spread is at least this fraction of its level
    (sensor resolution), so a quantised or nearly constant channel cannot alarm on one step."""
    stuck_after: int | None = Field(default=50, ge=2)
    """``robust``/``mahalanobis``: a channel that changed on 99 % of learned readings and then
    repeats one value this many readings in a row is a stuck sensor (score 1.0); ``None`` off."""
    calibration: Literal["tail", "likelihood", "loglikelihood"] = "tail"
    """Raw score -> [0, 1]: empirical tail probability, Numenta-style anomaly likelihood, or
    the likelihood on Numenta's log scale (0.5 = a 1e-5 tail, 1.0 = 1e-10)."""
    likelihood_short: int = Field(default=5, ge=1)
    """Readings in the short-term mean of raw scores (anomaly likelihood)."""
    members: tuple[Literal["hst_features", "robust", "mahalanobis"], ...] = (
        "robust",
        "mahalanobis",
    )
    """Detectors averaged by ``ensemble``."""
    drift: bool = False
    """Adapt to regime changes: after ``drift_patience`` high scores confirmed by ADWIN, relearn."""
    drift_patience: int = Field(default=3000, ge=1)
    drift_delta: float = Field(default=0.002, gt=0.0, lt=1.0)
    relearn: int = Field(default=300, ge=1)
    """Readings learned (never alarming) after a regime change is accepted."""
    extremes_window: int = Field(default=5000, ge=30)
    """``extremes``: recent readings each feature's range and ranks are taken over."""
    extremes_mean: int = Field(default=20, ge=2)
    """``extremes``: readings in each channel's rolling mean feature."""
    season_s: float | None = Field(default=86_400.0, gt=0.0)
    """``extremes``: the season (seconds) of the change-since-one-season feature; ``None`` off."""
    seasons: int = Field(default=3, ge=1)
    """``extremes``: past seasons compared; the change is from the closest of them."""
    suppress: int = Field(default=200, ge=0)
    """``extremes``: readings over which a reported surprise hides lower ones (0 = never); an
    event scores high on its first reading only, so pair it with ``alerts.raise_after = 1``."""
    suppress_global: int | None = Field(default=None, ge=0)
    """``extremes``: ``None`` suppresses the reading's largest surprise over ``suppress``
    readings; a number suppresses each feature on its own over ``suppress`` readings and then
    the reading's largest surviving surprise over this many."""
    season_weight: float = Field(default=1.0, gt=0.0)
    """``extremes``: factor on the change-since-one-season feature's surprise."""
    learn_anomalies: bool = False
    """Learn readings that score anomalous too (for ``extremes``, whose windows forget and whose
    suppressor reports an event once); by default an anomaly never teaches the model. Not for
    ``artime`` (and its half of ``extremes_artime``): adaptive resonance learns a window as it
    matches it, so every reading teaches it whatever this says."""
    excess_scale: float = Field(default=0.1, gt=0.0)
    """``extremes``: this fraction of a feature's range beyond the range adds 1 to its surprise."""
    artime_probation: int = Field(default=300, ge=32)
    """``artime``: readings learned before the first score; sets the downsampling (one value per
    ``artime_probation // 104`` readings) and the trend window the vigilances adapt over."""
    artime_margin: float = Field(default=1.0, ge=0.0)
    """``artime``: the probation's range is widened by this fraction of its span on each side."""
    artime_categories: int = Field(default=200, ge=2)
    """``artime``: categories kept; past it a new one replaces the least recently matched."""
    artime_gate: float = Field(default=0.3, ge=0.0, le=1.0)
    """``extremes_artime``: an ``extremes`` score above this may be raised by ARTime's report."""
    artime_weight: float = Field(default=1.0, gt=0.0)
    """``extremes_artime``: factor on ARTime's score where it confirms an ``extremes`` report."""
    artime_lag: int = Field(default=0, ge=0)
    """``extremes_artime``: ARTime's report also confirms an ``extremes`` report above the gate
    at any of the ``artime_lag`` readings before it (its decision trails by up to a step)."""
    artime_any_phase: bool = False
    """``extremes_artime``: where ``extremes`` reports, ask ARTime what it would score if its
    downsampling step ended at that reading (not only on a step's last reading)."""
    artime_below: float = Field(default=1.0, gt=0.0, le=1.0)
    """``extremes_artime`` with ``artime_any_phase``: only a window whose best category match
    is below this similarity confirms."""
    refractory_level: float | None = Field(default=None, gt=0.0, le=1.0)
    """Any kind but the fleets': a score at or above this within ``refractory_hold`` readings
    of the last one passed scores 0 (one alarm per event); ``None`` off. Set it at the alert
    threshold."""
    refractory_hold: int = Field(default=30, ge=1)
    """Readings after a passed report at or above ``refractory_level`` that cannot report again."""


class AlertSettings(_Section):
    """Alert policy: warm-up, a fixed or adaptive threshold, hysteresis and severities."""

    threshold: float = Field(default=0.999, gt=0.0, le=1.0)
    """Calibrated score at or above which a reading is anomalous."""
    warmup: int = Field(default=1000, ge=0)
    """Readings per asset that are learned but never alarm."""
    raise_after: int = Field(default=5, ge=1)
    clear_after: int = Field(default=50, ge=1)
    high_threshold: float = Field(default=1.0, gt=0.0, le=1.0)
    """Peak calibrated score at or above which an alert is ``high`` severity."""
    medium_threshold: float | None = Field(default=None, gt=0.0, le=1.0)
    """Peak score at or above which an alert is ``medium`` (``None``: only low and high)."""
    adaptive: bool = False
    """Raise the threshold to the ``adaptive_quantile`` of the asset's recent normal scores."""
    adaptive_quantile: float = Field(default=0.999, gt=0.0, lt=1.0)
    adaptive_window: int = Field(default=2000, ge=10)
    """Recent scores (outside alarms, after warm-up) the adaptive threshold is taken from."""


class ServeSettings(_Section):
    """The consumer service: group, batching, limits and the metrics endpoint."""

    group_id: str = "linewatch"
    batch_size: int = Field(default=500, ge=1)
    poll_timeout_s: float = Field(default=0.5, gt=0.0)
    batch_wait_ms: float = Field(default=5.0, ge=0.0, le=1000.0)
    """How long a batch that came with fewer than ``batch_min`` messages to an idle service may
    wait for more (a service that is behind takes what is there, at once). Every batch has a
    fixed cost (~0.2 ms: the fleet's array operations, metrics, a produce call); a live stream
    arriving a few readings at a time paid it for each few: at 10,000 readings/s the service
    used 0.49 and 0.53 of a core without the wait, 0.32 and 0.45 with 5 ms (two runs each),
    for 3-5 ms more event-to-score latency (p50 7 and 6 ms, then 10 and 11). 0: never wait."""
    batch_min: int = Field(default=100, ge=1)
    """The batch size from which an idle service processes a batch at once instead of waiting
    ``batch_wait_ms`` for more. A batching producer's readings arrive in fetch responses of
    ~rate x its ``linger.ms`` (150 at 30,000 readings/s and 5 ms): holding such a batch for the
    next response doubled the batch and added its wait to every reading. The speed bench's
    latency arm at 30,000 readings/s, alternated with the wait for every batch: p50 8, 8, 8
    against 12, 11, 12 ms (p99 37, 35, 58 against 39, 27, 41: the machine's spread)."""
    max_message_bytes: int = Field(default=64 * 1024, ge=64)
    """Readings and labels longer than this are dead-lettered as ``oversized``. A dead
    letter carries the rejected message's value as it came, cut at this many bytes (an
    ``error.value_truncated`` header then gives its length), so it plus
    :data:`DEAD_LETTER_HEADROOM_BYTES` must fit the producer's ``message.max.bytes`` (from
    ``kafka``, default 1,000,000): a larger value is a :class:`ConfigError` at load, never a
    dead letter that cannot be produced (and a replay failing on it forever)."""
    known_assets: tuple[str, ...] | None = None
    """If set, readings of any other asset are dead-lettered as ``unknown_asset``."""
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=9108, ge=0, le=65535)
    metrics_max_assets: int = Field(default=50, ge=0)
    """Assets that get per-asset series (score, threshold, alarm, channels): caps the label."""
    metrics_max_channels: int = Field(default=16, ge=0)
    """Channels per tracked asset exported as ``linewatch_asset_channel_value``."""
    processing: Literal["exactly_once", "at_least_once"] = "exactly_once"
    """``exactly_once``: outputs, snapshots and offsets commit in one Kafka transaction.
    ``at_least_once``: outputs and snapshots are flushed, then offsets committed; a crash
    replays (and re-emits) what came after the last commit."""
    commit_interval_s: float = Field(default=5.0, gt=0.0)
    """Commit (snapshot + offsets) at least this often while readings arrive."""
    commit_every: int = Field(default=100_000, ge=1)
    """... and after this many consumed messages, whichever comes first. Every commit
    snapshots each asset touched since the last one, so at 1,000 assets a small value makes
    snapshots, not scoring, the service's main cost."""
    linger_ms: int = Field(default=25, ge=0, le=1000)
    """How long the outputs' producer lets a batch of outputs fill before sending it
    (librdkafka's ``linger.ms``; a commit sends at once whatever waits). Scores are stamped
    when they are produced, so it is not in their event-to-score latency; 25 ms instead of 5
    cost the producer's network thread a third of the CPU (~0.9 to ~0.3 us an output).
    With ``at_least_once`` consumers of the outputs see them up to ``linger_ms`` later when
    readings arrive slowly (with ``exactly_once`` they see them at the commit anyway). It
    overrides a ``linger.ms`` or ``queue.buffering.max.ms`` given in ``kafka``."""
    background_commit: bool = True
    """With ``exactly_once``: commit in a helper thread while the service goes on scoring,
    holding the outputs made meanwhile for the next transaction (:mod:`pipeline.background`).
    Off: scoring stops for every commit (the readings behind it wait)."""
    instance_id: str | None = Field(default=None, min_length=1)
    """Stable name of this instance (default: the host name). With ``exactly_once`` it makes
    the ``transactional.id`` (``<group_id>.<instance_id>``): a restarted instance aborts what
    its crashed predecessor left open. Instances that run at the same time need distinct ids."""
    static_membership: bool = False
    """Join as a static member (``group.instance.id`` = the instance id): a restarted instance
    takes its partitions back at once instead of after the session timeout. But librdkafka
    fences a static member whose session expired (e.g. in a broker outage longer than the
    session timeout) with a fatal error, and the instance then exits for its supervisor to
    restart it."""
    session_timeout_ms: int = Field(default=6000, ge=6000)
    """After this long without a heartbeat the group gives a (crashed) member's partitions away."""
    transaction_timeout_ms: int = Field(default=60_000, ge=1000)
    """How long the broker keeps an open transaction of a vanished instance."""
    commit_timeout_s: float = Field(default=30.0, gt=0.0)
    """How long one commit (or abort) of a transaction may take. Past it, e.g. while the brokers
    are away, the service aborts, replaces its producer (also one stuck in librdkafka) and
    replays from the last commit, so the outputs stay exactly once."""
    slow_round_ms: float | None = Field(default=None, ge=0.0)
    """Log every round of the consuming loop (and every commit) that took at least this many
    milliseconds, with the time of each of its phases (:mod:`pipeline.rounds`); off if unset."""


class MqttSettings(_Section):
    """``bridge mqtt``: the MQTT broker, the topic template and the session."""

    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    topic: str = "plant/{line}/{asset}/{channel}"
    """Topic template; ``{asset}`` is required, ``{channel}`` means one number per message."""
    client_id: str = "linewatch-bridge"
    """Fixed so the broker keeps the persistent session (and queued messages) across restarts."""
    username: str | None = None
    password: str | None = None
    keepalive_s: int = Field(default=30, ge=5)
    reconnect_max_delay_s: float = Field(default=30.0, gt=0.0)


class OpcuaSettings(_Section):
    """``bridge opcua``: the server endpoint and subscription."""

    endpoint: str = "opc.tcp://127.0.0.1:4840"
    publishing_interval_ms: float = Field(default=500.0, gt=0.0)
    reconnect_max_delay_s: float = Field(default=30.0, gt=0.0)


class BridgeSettings(_Section):
    """What every bridge shares: its metrics endpoint (off unless a port is given)."""

    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = Field(default=None, ge=0, le=65535)


class StateSettings(_Section):
    """Per-asset model snapshots on the compacted ``linewatch.state`` topic."""

    hmac_key: SecretStr | None = None
    """Key that signs snapshots (HMAC-SHA256). Without it no snapshot is written or read:
    models live in memory only and a restart starts them afresh (a warning says so)."""
    restore_timeout_s: float = Field(default=60.0, gt=0.0)
    """Longest wait to read a partition's snapshots on assignment."""
    max_snapshot_bytes: int = Field(default=1_000_000, ge=1024)
    """Largest signed snapshot (Kafka's default message limit is about 1 MB)."""
    compact_snapshots: bool = True
    """Write the snapshots of the default detector and of ``zscore`` in the compact form
    (``pipeline.compact_states``: a few µs an asset at each checkpoint, where pickling takes
    ~40); off: pickles. Both forms are always read by this version, but versions before it
    refuse compact snapshots (and versions before compact ``zscore`` snapshots refuse those),
    so a rollback starts such assets afresh: before a rolling upgrade you may want
    to roll back, set it false (env ``LINEWATCH_STATE__COMPACT_SNAPSHOTS=false``), and turn it
    on once you will not go back."""


KpiModel = Literal["sgd", "adam", "bayesian"]


class KpiSettings(_Section):
    """The online regressor of ``linewatch evaluate kpi`` (process KPI regression).

    Every candidate standardises the features and the target with running statistics, then
    fits a linear model online: ``sgd`` (plain SGD), ``adam`` (Adam) or ``bayesian`` (river's
    exact Bayesian linear regression, a recursive least squares). Chosen once here, never
    tuned on the file evaluated.
    """

    model: KpiModel = "sgd"
    learning_rate: float = Field(default=0.005, gt=0.0)
    """Step size of ``sgd`` and ``adam`` (features and target are standardised)."""
    l2: float = Field(default=0.0, ge=0.0)
    """L2 penalty of ``sgd`` and ``adam``."""
    smoothing: float | None = Field(default=0.999, gt=0.0, le=1.0)
    """``bayesian``: weight kept by the past at each row (forgetting for drift; None: none)."""


class FaultAlertSettings(AlertSettings):
    """The alert policy on ``fault_probability``: the same policy, other defaults."""

    threshold: float = Field(default=0.5, gt=0.0, le=1.0)
    warmup: int = Field(default=0, ge=0)
    clear_after: int = Field(default=30, ge=1)
    average_readings: float = Field(default=1.0, ge=1.0)
    """The policy sees a moving average of the fault probability over about this many
    readings (1: the probability itself)."""
    on_probability: bool = True
    """Raise fault alerts on the fault probability (false: only the drift alarm,
    ``[supervised.cusum]``, raises them)."""


class CusumSettings(_Section):
    """The drift alarm: Page's CUSUMs of the condition drift (needs ``condition_channel``),
    trusted per machine type once they warned of failures (:mod:`pipeline.supervised.cusum`)."""

    enabled: bool = False
    k: float = Field(default=0.35, ge=0.0)
    """Reference value, in standard deviations (about half the shift to find)."""
    h: float = Field(default=20.0, gt=0.0)
    """Decision interval: a statistic at or above it has crossed."""
    min_warnings: int = Field(default=2, ge=1)
    """First crossings followed by a failure within the horizon before a statistic alarms."""
    false_ratio: float = Field(default=0.25, ge=0.0)
    """Most false crossings (no failure within the horizon) per warning of a trusted one."""


class SupervisedSettings(_Section):
    """Failure prediction learned from delayed labels (see :mod:`pipeline.supervised`).

    Every ``sample_interval_s`` of an asset's event time its feature vector is buffered; a
    ``failure`` label turns the buffered vectors of the ``horizon_s`` before it into positives
    (remaining useful life = time to the failure), and a vector becomes a negative once
    ``horizon_s + label_delay_s`` passed without a failure. One classifier and one regressor
    per machine type learn them, fleet-wide.
    """

    enabled: bool = False
    """Consume ``topics.labels`` and add ``fault_probability``/``rul_hours`` to the scores."""
    horizon_s: float = Field(default=3600.0, gt=0.0)
    """Predict a failure within this many seconds; also the cap of the RUL target."""
    label_delay_s: float = Field(default=60.0, ge=0.0)
    """How late a failure label may arrive after the readings: a buffered vector becomes a
    negative only once ``horizon_s + label_delay_s`` of event time passed without one."""
    sample_interval_s: float = Field(default=5.0, ge=0.0)
    """Event time between buffered (training) vectors of an asset; every reading is scored."""
    buffer_size: int = Field(default=1024, ge=1)
    """Most vectors buffered per asset (the oldest unresolved are dropped and counted)."""
    classifier: Literal["logistic", "hoeffding", "forest"] = "logistic"
    learning_rate: float = Field(default=0.05, gt=0.0)
    """Step size of the logistic classifier's SGD."""
    fleet_model: bool = False
    """One classifier and regressor for the whole fleet instead of one per machine type
    (the features are in each asset's own units, so the types' probabilities then rank
    alike); the drift alarm's record and the failure counts stay per machine type."""
    hierarchical: bool = False
    """Per machine type weights as deviations from weights shared by the fleet
    (:class:`~pipeline.supervised.models.HierarchicalModels`; logistic classifier and linear
    regressor only): each type learns its own weights from all its assets, and its rare
    failures still teach the others what the types share."""
    type_scale: float = Field(default=0.5, ge=0.0, le=10.0, allow_inf_nan=False)
    """With ``hierarchical``: a type's features enter again times this, so its weight
    deviations learn at ``type_scale ** 2`` the step of the shared weights (0: one fleet
    model). Its bias (a weight on the constant ``type_scale``) learns at ``type_scale ** 2``
    times the weights' step, against the shared intercept's own fixed rate (river's
    ``intercept_lr``: 0.01 for the classifier, 0.05 for the regressor whose step is 0.01):
    with 0.5 and ``learning_rate`` 0.005, 0.125 and 0.05 of the intercept's rate.
    Snapshotted models of another ``type_scale`` are refused (they start afresh)."""
    regressor: Literal["linear", "hoeffding", "forest"] = "linear"
    seed: int = 42
    machine_types: dict[str, str] = Field(default_factory=dict)
    """Asset id or shell pattern (``pump-*``) -> machine type; first match wins."""
    default_type: str = "default"
    """Machine type of assets that match no entry of ``machine_types``."""
    baseline_readings: int = Field(default=1000, ge=2)
    """Time constant, in readings, of an asset's slowly learned healthy level per channel."""
    min_failures: int = Field(default=1, ge=0)
    """Failures a machine type's models learned before ``fault_probability`` can alert."""
    settle_s: float = Field(default=0.0, ge=0.0)
    """After a ``maintenance`` label, how long the restarting machine still counts as down:
    no fault alert, no training vector (its start-up is not a symptom)."""
    drift_features: bool = False
    """Also each channel's slow average against the asset's baseline after its last repair
    (learns slow wear; costs ROC AUC while the models learn on data without wear)."""
    condition_channel: str | None = None
    """The channel that sets the operating condition (e.g. ``load_pct``): the drift features
    become each channel's drift beyond what this channel (now and lagged) explains
    (:mod:`pipeline.supervised.condition`); implies ``drift_features``."""
    symptom_bands: bool = True
    """The one-hot bands of how long the detector's moving score has been high."""
    cusum_features: bool = False
    """With ``condition_channel``: also each channel's Page CUSUMs of its drift, up and down
    (``log1p``; the asset's largest too) as the models' features: wear's earliest signal."""
    alerts: FaultAlertSettings = FaultAlertSettings()
    """Alert policy on ``fault_probability`` (threshold 0.5, no warm-up by default)."""
    cusum: CusumSettings = CusumSettings()
    """The drift alarm (off by default): its crossings raise fault alerts through the same
    policy."""

    @model_validator(mode="after")
    def _drift_settings_that_can_act(self) -> SupervisedSettings:
        """Refuse the combinations that would silently do nothing."""
        if self.condition_channel is None and (self.cusum.enabled or self.cusum_features):
            raise ValueError(
                "supervised.cusum.enabled and supervised.cusum_features need "
                "supervised.condition_channel (the drift their CUSUMs watch)"
            )
        if self.hierarchical and self.fleet_model:
            raise ValueError(
                "supervised.hierarchical and supervised.fleet_model exclude each other"
            )
        if "type_scale" in self.model_fields_set and not self.hierarchical:
            raise ValueError("supervised.type_scale needs supervised.hierarchical = true")
        if self.hierarchical and (self.classifier, self.regressor) != ("logistic", "linear"):
            raise ValueError(
                "supervised.hierarchical needs classifier = 'logistic' and regressor = 'linear' "
                "(the per-type deviations are weights of linear models)"
            )
        if not self.alerts.on_probability and not self.cusum.enabled:
            raise ValueError(
                "supervised.alerts.on_probability = false needs supervised.cusum.enabled "
                "(otherwise no fault alert could ever be raised)"
            )
        return self


class Settings(BaseSettings):
    """Everything linewatch can be told. Build it once, with :meth:`load`."""

    model_config = SettingsConfigDict(
        env_prefix="LINEWATCH_", env_nested_delimiter="__", frozen=True, extra="forbid"
    )

    bootstrap_servers: str = "localhost:9092"
    kafka: dict[str, str] = Field(default_factory=dict)
    """librdkafka properties passed to every client unchanged."""
    topics: TopicSettings = TopicSettings()
    model: ModelSettings = ModelSettings()
    alerts: AlertSettings = AlertSettings()
    serve: ServeSettings = ServeSettings()
    bridge: BridgeSettings = BridgeSettings()
    mqtt: MqttSettings = MqttSettings()
    opcua: OpcuaSettings = OpcuaSettings()
    state: StateSettings = StateSettings()
    kpi: KpiSettings = KpiSettings()
    supervised: SupervisedSettings = SupervisedSettings()

    @model_validator(mode="after")
    def _refractory_alerts_raise_at_once(self) -> Settings:
        """A refractory period zeroes an event's later reports, so a run of ``raise_after``
        anomalous readings never forms: with it, an alert must be raised by one reading."""
        if self.model.refractory_level is not None and self.alerts.raise_after != 1:
            raise ValueError(
                "model.refractory_level needs alerts.raise_after = 1 (the refractory period "
                f"zeroes an event's later reports; raise_after = {self.alerts.raise_after} "
                "anomalous readings in a row would never come)"
            )
        return self

    @model_validator(mode="after")
    def _dead_letters_fit_the_producer(self) -> Settings:
        """A dead letter's value can be ``serve.max_message_bytes`` long (see its docstring)."""
        configured = self.kafka.get("message.max.bytes", PRODUCER_MESSAGE_MAX_BYTES)
        try:
            limit = int(configured)
        except ValueError:
            raise ValueError(
                f"kafka message.max.bytes must be an integer, got {configured!r}"
            ) from None
        needed = self.serve.max_message_bytes + DEAD_LETTER_HEADROOM_BYTES
        if needed > limit:
            raise ValueError(
                f"serve.max_message_bytes = {self.serve.max_message_bytes} leaves no room for a "
                f"dead letter's key and headers ({DEAD_LETTER_HEADROOM_BYTES} bytes) within the "
                f"producer's message.max.bytes = {limit}: set it to at most "
                f"{limit - DEAD_LETTER_HEADROOM_BYTES}, or raise kafka message.max.bytes "
                "(and the dead-letter topic's max.message.bytes with it)"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Flags (init) beat the environment, which beats the file (passed as init defaults).
        return init_settings, env_settings

    @classmethod
    def load(cls, config_file: Path | None, **overrides: Any) -> Settings:
        """Read ``config_file`` (TOML), then the environment, then non-``None`` ``overrides``.

        Raises :class:`ConfigError` with every problem listed when the result is invalid.
        """
        file_values = _read_toml(config_file) if config_file is not None else {}
        flags = {key: value for key, value in overrides.items() if value is not None}
        try:
            from_env = cls()
            env_values = from_env.model_dump(exclude_unset=True)
            merged = _deep_merge(_deep_merge(file_values, env_values), flags)
            return cls.model_validate(merged)
        except ValidationError as exc:
            raise ConfigError(f"invalid settings: {exc}") from exc

    def client_config(self) -> dict[str, str]:
        """The librdkafka properties every client starts from."""
        return {"bootstrap.servers": self.bootstrap_servers, **self.kafka}


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
