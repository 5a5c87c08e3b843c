"""``OpcuaBridge``: an OPC UA subscription (asyncua) feeding :class:`BridgeSink`.

Every data change of a mapped node becomes one Reading with that node's channel, stamped with
the value's source timestamp (else the server's, else the receive time). Per-asset time never
goes backwards, as the service requires: a change older than the asset's last reading is
stamped with that reading's time. A bad status or a value that is not a finite number
(booleans count as 0/1) goes to the dead-letter topic with ``source.topic`` = the node id.
Nodes that cannot be read or subscribed are reported at start; the others are bridged.
asyncua's client supervisor reconnects and re-creates the subscription after a loss.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from datetime import UTC
from typing import Any

import orjson
from asyncua import ua
from asyncua.client.client import Client
from asyncua.common.node import Node
from asyncua.common.subscription import DataChangeNotif
from asyncua.ua.uaerrors import UaError

from pipeline.errors import ConfigError, DecodeError, DeliveryError
from pipeline.messages import Reading, sensor_value
from pipeline.settings import OpcuaSettings
from producers.bridges.opcua_mapping import NodeTarget
from producers.bridges.sink import BridgeSink

__all__ = ["OpcuaBridge", "value_to_float"]

logger = logging.getLogger(__name__)

_TICK_S = 0.2
_CONNECT_ERRORS = (OSError, TimeoutError, ConnectionError, UaError)


def value_to_float(value: Any) -> float:
    """A node value as a finite float, or DecodeError.

    >>> value_to_float(True), value_to_float(7)
    (1.0, 7.0)
    >>> value_to_float("hot")
    Traceback (most recent call last):
    ...
    pipeline.errors.DecodeError: node value must be a number, got str
    >>> value_to_float(1e300)
    Traceback (most recent call last):
    ...
    pipeline.errors.DecodeError: node value must be within ±1e+15, got 1e+300
    """
    if isinstance(value, bool):
        return float(value)
    if not isinstance(value, int | float):
        raise DecodeError("wrong_type", f"node value must be a number, got {type(value).__name__}")
    return sensor_value("node value", float(value), value)


class OpcuaBridge:
    """Subscribe to the mapped nodes and publish their changes until a stop event."""

    def __init__(
        self, settings: OpcuaSettings, mapping: dict[str, NodeTarget], sink: BridgeSink
    ) -> None:
        self.settings = settings
        self.mapping = mapping
        self.sink = sink
        self.unreadable: dict[str, str] = {}
        self._targets: dict[ua.NodeId, tuple[str, NodeTarget]] = {}
        self._last_ts: dict[str, int] = {}
        self._failure: BaseException | None = None

    def run(self, stop: threading.Event) -> None:
        """Connect (retrying), subscribe, bridge until ``stop``, then flush Kafka."""
        try:
            asyncio.run(self._run(stop))
            self.sink.flush()
        finally:
            self.sink.close()

    async def _run(self, stop: threading.Event) -> None:
        client = await self._connect(stop)
        if client is None:
            return
        try:
            await self._subscribe(client)
            while not stop.is_set():
                self.sink.poll(0)
                self._raise_failure()
                await asyncio.sleep(_TICK_S)
        finally:
            await client.disconnect()

    async def _connect(self, stop: threading.Event) -> Client | None:
        delay = 0.5
        while not stop.is_set():
            client = Client(
                self.settings.endpoint,
                auto_reconnect=True,
                reconnect_max_delay=self.settings.reconnect_max_delay_s,
            )
            try:
                await client.connect()
                logger.info("opcua connected", extra={"endpoint": self.settings.endpoint})
                return client
            except _CONNECT_ERRORS as exc:
                logger.warning(
                    "opcua connect failed; retrying",
                    extra={"endpoint": self.settings.endpoint, "error": str(exc) or repr(exc)},
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.settings.reconnect_max_delay_s)
        return None

    async def _subscribe(self, client: Client) -> None:
        nodes = await self._readable_nodes(client)
        subscription = await client.create_subscription(self.settings.publishing_interval_ms, self)
        results = await subscription.subscribe_data_change(nodes)
        subscribed = 0
        for node, result in zip(nodes, results, strict=True):
            if isinstance(result, ua.StatusCode):
                self._report(node.nodeid.to_string(), f"cannot be subscribed: {result.name}")
            else:
                subscribed += 1
        if subscribed == 0:
            raise ConfigError("none of the mapped nodes could be subscribed")
        logger.info("opcua subscribed", extra={"nodes": subscribed, "of": len(self.mapping)})

    async def _readable_nodes(self, client: Client) -> list[Node]:
        nodes = []
        for node_id, target in self.mapping.items():
            node = client.get_node(node_id)
            try:
                value = await node.read_data_value(raise_on_bad_status=False)
                status = value.StatusCode
            except UaError as exc:
                self._report(node_id, f"cannot be read: {exc}")
                continue
            if status is not None and not status.is_good():
                self._report(node_id, f"cannot be read: {status.name}")
                continue
            self._targets[node.nodeid] = (node_id, target)
            nodes.append(node)
        if not nodes:
            raise ConfigError(
                f"none of the {len(self.mapping)} mapped nodes can be read: {self.unreadable}"
            )
        return nodes

    def _report(self, node_id: str, problem: str) -> None:
        self.unreadable[node_id] = problem
        logger.error("opcua node %s %s", node_id, problem, extra={"node": node_id})

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure
        if self.sink.failed:
            raise DeliveryError(
                f"{self.sink.failed} readings were not delivered to Kafka "
                f"(first error: {self.sink.first_error})"
            )

    def datachange_notification(self, node: Node, val: Any, data: DataChangeNotif) -> None:
        """asyncua's callback for each change of a subscribed node's value."""
        try:
            self._bridge(node, val, data.monitored_item.Value)
        except Exception as exc:  # asyncua would only log it: stop the bridge instead
            logger.exception("opcua change could not be bridged")
            self._failure = exc

    def _bridge(self, node: Node, val: Any, data_value: ua.DataValue) -> None:
        node_id, target = self._targets[node.nodeid]
        try:
            status = data_value.StatusCode
            if status is not None and not status.is_good():
                raise DecodeError("bad_status", f"node {node_id} reports {status.name}")
            value = value_to_float(val)
        except DecodeError as exc:
            payload = orjson.dumps({"node": node_id, "value": repr(val)[:200]})
            self.sink.send_deadletter(payload, target.asset.encode(), exc, node_id)
            return
        ts = max(self._timestamp(data_value), self._last_ts.get(target.asset, 0))
        self._last_ts[target.asset] = ts
        reading = Reading(target.asset, ts, {target.channel: value}, line=target.line)
        self.sink.send(reading)

    @staticmethod
    def _timestamp(data_value: ua.DataValue) -> int:
        stamp = data_value.SourceTimestamp or data_value.ServerTimestamp
        if stamp is None:
            return int(time.time() * 1000)
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=UTC)
        return int(stamp.timestamp() * 1000)
