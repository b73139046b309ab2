"""The records partition a host's records travel in, computed from its address.

Per-partition state (the flood monitor, the alert budget) must be the same in ``oddping scan``,
which has no broker, as on any number of workers.  A host's partition is what the producer's
partitioner makes of its key (the echo initiator, UTF-8): murmur2_random in confluent-kafka,
the same murmur2 as Java clients and aiokafka, ``(murmur2(key) & 0x7fffffff) % partitions``.
So scan computes it from ``kafka.partitions``, which must then match the records topic.
"""

from __future__ import annotations

from aiokafka.partitioner import murmur2


def partition_of(host_ip: str, partitions: int) -> int:
    """The records partition of a host (4 µs: asked for new sources and alerts, not per
    record)."""
    if partitions <= 1:
        return 0
    return (murmur2(host_ip.encode()) & 0x7FFFFFFF) % partitions
