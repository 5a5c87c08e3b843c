"""Gateways from plant protocols to Kafka: MQTT (``mqtt``) and OPC UA (``opcua``).

Both turn source messages into :class:`~pipeline.messages.Reading` records, publish them with
:class:`BridgeSink` (idempotent, keyed by asset, delivery reports checked and counted) and send
what cannot become a reading to the dead-letter topic with the reason in headers.
"""
