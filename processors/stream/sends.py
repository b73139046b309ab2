"""What the worker's producer does per message, made cheap for the alert versions it sends,
and waiting for Kafka's acknowledgement of what it sent.

Since the alert lifecycle (processors/lifecycle.py) the worker sends a message per alert
*version*: on the stream bench's busy capture 15,449 versions for 291,603 records.  Per version
aiokafka's default partitioner hashed the key (the alert's src_ip) with its pure-Python
murmur2, ~4 µs, though a host sends many versions; :func:`cached_partitioner` is the same
partitioner with the hash remembered per key.
"""

from __future__ import annotations

import asyncio
import random
from functools import lru_cache
from typing import Iterable, Sequence

from aiokafka.partitioner import murmur2

#: most seconds a worker giving partitions up waits for Kafka to acknowledge what it sent
REVOKE_FLUSH_S = 30.0
#: keys whose hash is remembered (alert keys are host addresses: a worker's hosts with alerts)
HASHED_KEYS = 1 << 16


@lru_cache(maxsize=HASHED_KEYS)
def _hash(key: bytes) -> int:
    return murmur2(key) & 0x7FFFFFFF


def cached_partitioner(key: bytes | None, all_partitions: Sequence[int],
                       available: Sequence[int]) -> int:
    """aiokafka's DefaultPartitioner (the Java client's murmur2 placement, so a key goes where
    any other Kafka client would put it), with the key's hash cached."""
    if key is None:
        return random.choice(available or all_partitions)
    return all_partitions[_hash(key) % len(all_partitions)]


async def acknowledged(deliveries: Iterable[asyncio.Future], timeout: float | None = None) -> None:
    """Wait until Kafka has acknowledged every delivery, watching only those still pending
    (most were acknowledged while the agent worked; gather would wrap and watch each of the
    thousands).  Without a timeout, then raise the first that failed; with one (a worker giving
    partitions up), give up waiting after it, raising nothing."""
    sent = list(deliveries)
    pending = [delivery for delivery in sent if not delivery.done()]
    if pending:
        await asyncio.wait(pending, timeout=timeout)
    if timeout is None:
        for delivery in sent:
            delivery.result()
