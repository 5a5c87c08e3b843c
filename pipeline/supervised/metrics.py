"""Prometheus metrics of the supervised models (prequential, test-then-train, since start).

Examples
--------
>>> from prometheus_client import CollectorRegistry
>>> from pipeline.settings import Settings
>>> from pipeline.supervised.supervisor import Supervisor
>>> registry = CollectorRegistry()
>>> metrics = SupervisedMetrics(registry)
>>> supervisor = Supervisor(Settings.load(None))
>>> supervisor.prequential.update(True, 0.9, 10.0, 20.0)
>>> supervisor.prequential.update(False, 0.2, 3600.0, 3000.0)
>>> supervisor.new_leads.append(120.0)
>>> metrics.observe(supervisor)
>>> registry.get_sample_value("linewatch_supervised_roc_auc")
1.0
>>> registry.get_sample_value("linewatch_supervised_lead_time_seconds_count")
1.0
"""

from __future__ import annotations

import math
from typing import get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from pipeline.messages import Alert, LabelKind
from pipeline.supervised.supervisor import Supervisor

__all__ = ["SupervisedMetrics"]

#: Warning lead time buckets (seconds): a minute to a week.
LEAD_BUCKETS = (60, 300, 900, 1800, 3600, 7200, 14400, 43200, 86400, 259200, 604800)
_QUALITY = {
    "roc_auc": "Prequential ROC AUC of the failure-within-horizon classifier.",
    "precision": "Prequential precision of fault_probability >= the alert threshold.",
    "recall": "Prequential recall of fault_probability >= the alert threshold.",
    "f1": "Prequential F1 of fault_probability >= the alert threshold.",
    "rul_mae_hours": "Prequential mean absolute error of the remaining useful life, hours.",
    "rul_rmse_hours": "Prequential root mean squared error of the remaining useful life, hours.",
}


class SupervisedMetrics:
    """``linewatch_supervised_*`` and ``linewatch_fault_alerts_total``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.quality = {
            name: Gauge(f"linewatch_supervised_{name}", text, registry=registry)
            for name, text in _QUALITY.items()
        }
        self.labels = Counter(
            "linewatch_supervised_labels",
            "Labels consumed, by kind.",
            ["kind"],
            registry=registry,
        )
        self.targets = Counter(
            "linewatch_supervised_targets",
            "Buffered readings whose target resolved and that the models learned, by target.",
            ["target"],
            registry=registry,
        )
        self.buffered = Gauge(
            "linewatch_supervised_buffered",
            "Feature vectors waiting for their target, over all assets.",
            registry=registry,
        )
        self.dropped = Gauge(
            "linewatch_supervised_dropped",
            "Feature vectors dropped unresolved because an asset's buffer was full.",
            registry=registry,
        )
        self.lead_time = Histogram(
            "linewatch_supervised_lead_time_seconds",
            "Time from the first fault alert to the failure, per warned failure.",
            buckets=LEAD_BUCKETS,
            registry=registry,
        )
        self.failures = Counter(
            "linewatch_supervised_failures",
            "Failures labelled, by whether a fault alert warned of them.",
            ["warned"],
            registry=registry,
        )
        self.fault_alerts = Counter(
            "linewatch_fault_alerts",
            "Alert state changes on the fault probability, by state.",
            ["state"],
            registry=registry,
        )
        for gauge in self.quality.values():
            gauge.set(math.nan)  # no prediction scored yet
        for state in ("raised", "cleared"):
            self.fault_alerts.labels(state=state)
        for kind in get_args(LabelKind):
            self.labels.labels(kind=kind)
        for target in ("failure", "no_failure"):
            self.targets.labels(target=target)
        for warned in ("true", "false"):
            self.failures.labels(warned=warned)
        self._seen: dict[str, int] = {}

    def observe_fault_alert(self, alert: Alert) -> None:
        """Count a change of a fault-probability alarm."""
        self.fault_alerts.labels(state=alert.state).inc()

    def observe(self, supervisor: Supervisor) -> None:
        """Bring the gauges and counters up to date with ``supervisor`` (after a batch)."""
        p = supervisor.prequential
        values = {
            "roc_auc": p.roc_auc,
            "precision": p.precision,
            "recall": p.recall,
            "f1": p.f1,
            "rul_mae_hours": p.mae_s / 3600,
            "rul_rmse_hours": p.rmse_s / 3600,
        }
        for name, value in values.items():
            if not math.isnan(value):
                self.quality[name].set(value)
        self._count(self.labels, "kind", supervisor.labels_seen)
        learned = {"failure": supervisor.learned[True], "no_failure": supervisor.learned[False]}
        self._count(self.targets, "target", learned)
        self.buffered.set(sum(len(s.buffer) for s in supervisor.assets.values()))
        self.dropped.set(sum(s.buffer.dropped for s in supervisor.assets.values()))
        for lead in supervisor.drain_leads():
            self.failures.labels(warned="false" if lead is None else "true").inc()
            if lead is not None:
                self.lead_time.observe(lead)

    def _count(self, counter: Counter, label: str, totals: dict[str, int]) -> None:
        for value, total in totals.items():
            key = f"{label}={value}"
            counter.labels(**{label: value}).inc(total - self._seen.get(key, 0))
            self._seen[key] = total
