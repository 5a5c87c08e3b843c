"""The service's Kafka clients: the readings consumer's settings and the outputs' producer."""

from __future__ import annotations

from pipeline.auth import AuthWatch
from pipeline.outputs import ClientConfig, Outputs, TransactionalOutputs
from pipeline.outputs_at_least_once import AtLeastOnceOutputs
from pipeline.settings import Settings

__all__ = ["consumer_config", "make_outputs", "producer_config"]


def consumer_config(settings: Settings, instance: str, auth: AuthWatch) -> ClientConfig:
    """The consumer of the readings (and labels): manual commits, read_committed input."""
    serve = settings.serve
    static = {"group.instance.id": instance} if serve.static_membership else {}
    return {
        **settings.client_config(),
        **static,
        "group.id": serve.group_id,
        "session.timeout.ms": serve.session_timeout_ms,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": False,
        "isolation.level": "read_committed",
        "partition.assignment.strategy": "range",  # labels go with their readings
        "error_cb": auth,
    }


def producer_config(settings: Settings, auth: AuthWatch) -> ClientConfig:
    """The outputs' producer's settings before the mode's own (transactions or idempotence).

    ``serve.linger_ms`` is its ``linger.ms``: a ``queue.buffering.max.ms`` (librdkafka's alias,
    the last one set wins) in ``kafka`` is left out, or it would win wherever it came later.
    """
    config = settings.client_config()
    config.pop("queue.buffering.max.ms", None)
    return {**config, "linger.ms": settings.serve.linger_ms, "error_cb": auth}


def make_outputs(settings: Settings, instance: str, auth: AuthWatch) -> Outputs:
    """The producer of ``serve.processing``: transactional (one ``transactional.id`` per
    instance) or idempotent at-least-once."""
    serve = settings.serve
    config = producer_config(settings, auth)
    if serve.processing == "at_least_once":
        return AtLeastOnceOutputs(config)
    return TransactionalOutputs(
        config,
        f"{serve.group_id}.{instance}",
        serve.transaction_timeout_ms,
        check=auth.check,
        lost=lambda: auth.brokers_down,
        commit_timeout_s=serve.commit_timeout_s,
    )
