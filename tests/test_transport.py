"""The worker's consumer hands chunked topics' records over as aiokafka's own record objects
(processors/stream/transport.py, LeanPartitionRecords): the same offsets, keys and values as
aiokafka's ConsumerRecords, the partition taken from the chunk; other topics are untouched."""

from __future__ import annotations

import orjson
from aiokafka.consumer import fetcher as aiokafka_fetcher
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.record.memory_records import MemoryRecords
from aiokafka.structs import ConsumerRecord, TopicPartition
from test_engine import mix  # noqa: F401 (the engine tests' fixture)

from processors.engine import Engine
from processors.stream import transport
from processors.stream.batch import BatchProcessor, Message

LZ4 = 3  # aiokafka's codec id; oddping produce compresses with lz4


def fetched(values: list[bytes | None], base_offset: int = 100) -> bytes:
    """One record batch as a broker returns it."""
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=LZ4, is_transactional=0,
                                        producer_id=-1, producer_epoch=-1, base_sequence=-1,
                                        batch_size=1 << 20)
    for i, value in enumerate(values):
        builder.append(i, timestamp=1_700_000_000_000 + i, key=b"10.0.0.%d" % i, value=value,
                       headers=[])
    data = builder.build()
    data[0:8] = base_offset.to_bytes(8, "big")
    return bytes(data)


def unpack(topic: str, raw: bytes) -> list:
    tp = TopicPartition(topic, 2)
    # what aiokafka's Fetcher calls for every fetched partition (see transport.py)
    records = aiokafka_fetcher.PartitionRecords(tp, MemoryRecords(raw), None, 100, None, None,
                                                True, 0)
    return list(records)


def test_chunked_topics_get_the_same_records_without_the_dataclass():
    transport.LEAN_TOPICS.add("lean.records")
    raw = fetched([b"a", None, b"ccc"])
    lean, ordinary = unpack("lean.records", raw), unpack("other.topic", raw)
    assert all(type(r) is ConsumerRecord for r in ordinary)
    assert not any(isinstance(r, ConsumerRecord) for r in lean)
    assert [(r.offset, r.key, r.value, r.timestamp) for r in lean] == [
        (r.offset, r.key, r.value, r.timestamp) for r in ordinary] == [
        (100, b"10.0.0.0", b"a", 1_700_000_000_000), (101, b"10.0.0.1", None, 1_700_000_000_001),
        (102, b"10.0.0.2", b"ccc", 1_700_000_000_002)]
    chunk = transport.Chunk(TopicPartition("lean.records", 2), lean, generation_id=5)
    assert (chunk.topic, chunk.partition, chunk.offset, chunk.first_offset, chunk.count) == (
        "lean.records", 2, 102, 100, 3)
    assert chunk.serialized_value_size == 4 and chunk.value is lean


def test_a_chunk_of_lean_records_is_processed_like_messages(mix):
    records = [r for r in mix if r["initiator_ip"] == mix[0]["initiator_ip"]][:200]
    transport.LEAN_TOPICS.add("lean.records")
    lean = unpack("lean.records", fetched([orjson.dumps(r) for r in records] + [b"\x00 junk"]))
    as_messages = [Message(2, r.offset, r.key, r.value) for r in lean]
    results = []
    for batch, partition in ((lean, 2), (as_messages, None)):
        processor = BatchProcessor(lambda: Engine(track_changes=True), lambda _host: None)
        result = processor.process(batch, partition)
        result.alerts += processor.engine.flush()
        results.append((sorted(a.alert_id for a in result.alerts),
                        [(d.message, d.reason) for d in result.dead_letters],
                        {h: p for h, (p, _) in processor.checkpoint().items()}))
    assert results[0] == results[1]
    alerts, dead, partitions = results[0]
    assert alerts and set(partitions.values()) == {2}
    assert dead == [(Message(2, 300, b"10.0.0.200", b"\x00 junk"), dead[0][1])]
    assert dead[0][1].startswith("not JSON")
