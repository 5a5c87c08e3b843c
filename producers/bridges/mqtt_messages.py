"""MQTT topics and payloads to Readings (pure: no client, no broker).

A topic template names the levels of a topic, e.g. ``plant/{line}/{asset}/{channel}``. Each
``{name}`` is one whole level and subscribes as ``+``; ``{asset}`` is required, ``{line}`` and
``{channel}`` are used, any other name is matched and ignored. Two payload forms:

- template **with** ``{channel}``: the payload is one number as text (``"71.5"``). Each
  message becomes one Reading with that single channel, stamped with the time the bridge
  received it. Nothing is buffered or merged, so nothing can be lost or mis-joined; a device
  that measures several channels together should publish the JSON form instead.
- template **without** ``{channel}``: the payload is one JSON object per asset,
  ``{"ts": <epoch ms or RFC 3339>, "values": {"channel": number, ...}}`` (``ts`` optional,
  default the receive time; ``seq`` and ``line`` optional), validated as the service does.

Anything else raises :class:`~pipeline.errors.DecodeError` with a reason code.

Examples
--------
>>> template = TopicTemplate.parse("plant/{line}/{asset}/{channel}")
>>> template.subscription
'plant/+/+/+'
>>> template.to_reading("plant/l1/pump-01/bearing_temp_c", b"71.5", now_ms=1000)
Reading(asset='pump-01', ts=1000, values={'bearing_temp_c': 71.5}, seq=None, line='l1')
>>> per_asset = TopicTemplate.parse("plant/{line}/{asset}")
>>> per_asset.to_reading("plant/l1/press-07", b'{"ts": 5, "values": {"p": 2}}', now_ms=9)
Reading(asset='press-07', ts=5, values={'p': 2.0}, seq=None, line='l1')
>>> template.to_reading("plant/l1/pump-01/temp", b"hot", now_ms=1000)
Traceback (most recent call last):
...
pipeline.errors.DecodeError: payload of a channel topic must be a number, got 'hot'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from pipeline.errors import DecodeError
from pipeline.messages import DEFAULT_MAX_BYTES, Reading, decode_reading, sensor_value

__all__ = ["TopicTemplate"]

_PLACEHOLDER = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_MAX_NUMBER_TEXT = 64


@dataclass(frozen=True, slots=True)
class TopicTemplate:
    """A parsed topic template: per level, a literal text or a placeholder name."""

    levels: tuple[tuple[str, bool], ...]  # (text or name, is_placeholder)

    @classmethod
    def parse(cls, template: str) -> TopicTemplate:
        """Parse ``template``; raise ``ValueError`` saying what is wrong with it."""
        levels: list[tuple[str, bool]] = []
        for level in template.split("/"):
            match = _PLACEHOLDER.match(level)
            if match:
                levels.append((match.group(1), True))
            elif any(char in level for char in "{}+#"):
                raise ValueError(
                    f"topic template {template!r}: level {level!r} must be plain text "
                    "or one whole {name}"
                )
            else:
                levels.append((level, False))
        names = [text for text, placeholder in levels if placeholder]
        if "asset" not in names:
            raise ValueError(f"topic template {template!r} has no {{asset}} level")
        if len(set(names)) != len(names):
            raise ValueError(f"topic template {template!r} repeats a placeholder")
        return cls(tuple(levels))

    @property
    def subscription(self) -> str:
        """The MQTT topic filter: each placeholder becomes ``+``."""
        return "/".join("+" if placeholder else text for text, placeholder in self.levels)

    @property
    def per_channel(self) -> bool:
        """True when each message carries one channel's number (``{channel}`` in the template)."""
        return ("channel", True) in self.levels

    def fields(self, topic: str) -> dict[str, str]:
        """The placeholder values of ``topic``; raise DecodeError if it does not match."""
        parts = topic.split("/")
        if len(parts) != len(self.levels):
            raise DecodeError("topic_mismatch", f"topic {topic!r} does not match the template")
        found: dict[str, str] = {}
        for part, (text, placeholder) in zip(parts, self.levels, strict=True):
            if placeholder:
                found[text] = part
            elif part != text:
                raise DecodeError("topic_mismatch", f"topic {topic!r} does not match the template")
        return found

    def to_reading(self, topic: str, payload: bytes, now_ms: int) -> Reading:
        """Turn one message into a Reading; raise DecodeError with a reason if it is malformed."""
        found = self.fields(topic)
        obj: dict[str, Any]
        if self.per_channel:
            value = _number(payload)
            obj = {"asset": found["asset"], "ts": now_ms, "values": {found["channel"]: value}}
        else:
            obj = _object(payload)
            if "asset" in obj and obj["asset"] != found["asset"]:
                raise DecodeError(
                    "wrong_type",
                    f"payload asset {obj['asset']!r} differs from topic asset {found['asset']!r}",
                )
            obj = {**obj, "asset": found["asset"]}
            obj.setdefault("ts", now_ms)
        if "line" in found and "line" not in obj:
            obj["line"] = found["line"]
        return decode_reading(orjson.dumps(obj))


def _number(payload: bytes) -> float:
    text = payload.decode("utf-8", errors="replace").strip()
    if len(text) > _MAX_NUMBER_TEXT:
        raise DecodeError("oversized", f"number payload is {len(payload)} bytes")
    try:
        value = float(text.replace("_", "!"))  # float() would accept "1_0"
    except ValueError:
        raise DecodeError(
            "wrong_type", f"payload of a channel topic must be a number, got {text[:40]!r}"
        ) from None
    return sensor_value("payload", value, text)


def _object(payload: bytes) -> dict[str, Any]:
    if len(payload) > DEFAULT_MAX_BYTES:
        raise DecodeError("oversized", f"payload is {len(payload)} bytes")
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise DecodeError("malformed_json", f"not valid UTF-8 JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise DecodeError("wrong_type", f"payload must be a JSON object, got {type(obj).__name__}")
    return obj
