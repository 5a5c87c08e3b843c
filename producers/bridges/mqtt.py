"""``MqttBridge``: an MQTT subscription (paho-mqtt) feeding :class:`BridgeSink`.

Delivery is at-least-once end to end: the client uses QoS 1, a fixed client id and a
persistent session (``clean_session=False``) and acknowledges each MQTT message only after
Kafka acknowledged the reading (or dead letter) made from it (paho's ``manual_ack``). So a
message the bridge has not yet passed on is redelivered by the MQTT broker after a reconnect
or a restart of the bridge, and messages published while the bridge is away wait in its
session. The broker's in-flight limit (``max_inflight_messages``) bounds what the bridge
holds. paho's network thread reconnects by itself with exponential back-off.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from pipeline.errors import DecodeError, DeliveryError
from pipeline.settings import MqttSettings
from producers.bridges.mqtt_messages import TopicTemplate
from producers.bridges.sink import BridgeSink

__all__ = ["MqttBridge"]

logger = logging.getLogger(__name__)

QOS = 1
_MAX_DEADLETTER_BYTES = 256 * 1024
_POLL_S = 0.2


class MqttBridge:
    """Subscribe to ``settings.topic`` and publish every message as a Reading (or dead letter).

    Call :meth:`run` with a stop event; it returns after flushing Kafka and disconnecting.
    ``connected`` is set while the client holds a session with the broker.
    """

    def __init__(self, settings: MqttSettings, sink: BridgeSink) -> None:
        self.settings = settings
        self.template = TopicTemplate.parse(settings.topic)
        self.sink = sink
        self.connected = threading.Event()
        self._stopping = False
        self._failure: BaseException | None = None
        self._client = self._make_client()

    def run(self, stop: threading.Event) -> None:
        """Connect (retrying until the broker answers), bridge until ``stop``, then flush."""
        client = self._client
        client.connect_async(self.settings.host, self.settings.port, self.settings.keepalive_s)
        client.loop_start()
        try:
            while not stop.is_set():
                self.sink.poll(_POLL_S)
                self._raise_failure()
            self.sink.flush()  # deliveries acknowledge their MQTT messages before we leave
        finally:
            self._stopping = True
            client.disconnect()
            client.loop_stop()
            self.sink.close()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure
        if self.sink.failed:
            raise DeliveryError(
                f"{self.sink.failed} messages were not delivered to Kafka (first error: "
                f"{self.sink.first_error}); their MQTT messages stay unacknowledged and the "
                "broker redelivers them when the bridge reconnects"
            )

    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.settings.client_id,
            clean_session=False,
            manual_ack=True,
        )
        if self.settings.username is not None:
            client.username_pw_set(self.settings.username, self.settings.password)
        client.reconnect_delay_set(1, max(1, round(self.settings.reconnect_max_delay_s)))
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Any,
    ) -> None:
        if reason.is_failure:
            logger.error("mqtt connect refused", extra={"reason": str(reason)})
            return
        client.subscribe(self.template.subscription, qos=QOS)
        self.connected.set()
        logger.info(
            "mqtt connected",
            extra={
                "broker": f"{self.settings.host}:{self.settings.port}",
                "subscription": self.template.subscription,
                "session_present": flags.session_present,
            },
        )

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Any,
    ) -> None:
        self.connected.clear()
        if not self._stopping:
            logger.warning("mqtt disconnected; reconnecting", extra={"reason": str(reason)})

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            self._bridge(client, message)
        except Exception as exc:  # an exception would end paho's network thread: stop cleanly
            logger.exception("mqtt message could not be bridged", extra={"topic": message.topic})
            self._failure = exc

    def _bridge(self, client: mqtt.Client, message: mqtt.MQTTMessage) -> None:
        mid, qos = message.mid, message.qos

        def done(delivered: bool) -> None:
            if delivered:
                client.ack(mid, qos)

        payload = bytes(message.payload)
        try:
            reading = self.template.to_reading(message.topic, payload, int(time.time() * 1000))
        except DecodeError as exc:
            key = self._asset_key(message.topic)
            value = payload[:_MAX_DEADLETTER_BYTES]
            self.sink.send_deadletter(value, key, exc, message.topic, done)
            return
        self.sink.send(reading, done)

    def _asset_key(self, topic: str) -> bytes | None:
        try:
            asset = self.template.fields(topic).get("asset")
        except DecodeError:
            return None
        return asset.encode() if asset else None
