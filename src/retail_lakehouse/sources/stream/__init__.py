"""Broker consumers: events with their (partition, offset) positions, for ``retail stream``.

:mod:`.base` is the broker-neutral interface (partitions and offsets, the way Kafka and NATS
JetStream both number messages); :mod:`.nats` implements it for a JetStream durable pull consumer;
:mod:`.events` turns a batch of JSON events into the raw string columns every reader produces.
"""
