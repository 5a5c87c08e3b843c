"""What producers send: readings and labels, or readings already encoded for Kafka."""

from __future__ import annotations

from typing import NamedTuple

import orjson

from pipeline.messages import Label, Reading

__all__ = ["Encoded", "Record", "encoded_reading"]

Record = Reading | Label


class Encoded(NamedTuple):
    """A reading already encoded as its Kafka payload (the bytes of ``encode(reading)``)."""

    asset: str
    ts: int
    payload: bytes


def encoded_reading(
    asset: str, ts: int, values: dict[str, float], seq: int, line: str | None
) -> Encoded:
    """The reading's Kafka payload, the same bytes as ``encode(Reading(...))``.

    >>> encoded_reading("p", 5, {"t": 1.0}, 0, None).payload
    b'{"asset":"p","ts":5,"values":{"t":1.0},"seq":0}'
    """
    body: dict[str, object] = {"asset": asset, "ts": ts, "values": values, "seq": seq}
    if line is not None:
        body["line"] = line
    return Encoded(asset, ts, orjson.dumps(body))
