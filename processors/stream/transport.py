"""faust's aiokafka transport, delivering the records topic one fetch at a time.

Stock faust turns every fetched record into a message, an event and a trip through the agent's
queue and stream iterator (with an event-loop turn, sensors and ack tracking each), and hands
each over with ``await wait_first(callback(message), suspend_flow.wait())``: two tasks and an
``asyncio.wait`` per record.  On this project's 2-vCPU machines that machinery alone capped a
worker whose agent did nothing at ~12-19k records/s, where a plain aiokafka loop reads ~230k/s
(bench/README.md).

So for the topics named in ``chunked_topics`` (the records topic) the consumer delivers each
partition's share of a fetch as one :class:`Chunk`: a message whose ``value`` is the list of
fetched records (aiokafka's own record objects, see :class:`LeanPartitionRecords`: ``offset``,
``key``, ``value``, ``timestamp``; the partition is the chunk's),
whose ``offset`` is the last record's, and which, when acked, acks every offset from its first
record's on.  It travels through faust like any message (conductor, flow control, the agent's
queue, generation checks, acks and commits), so faust still owns the group, the assignment,
rebalances, offsets and the table's changelog; it does so once per chunk instead of once per
record.  Other topics (the table's changelog during recovery) are delivered a record at a time,
as faust does.

A delivery waits only while faust rebuilds its topic index, or while the agent's queue is full;
the worker drops events fetched before a rebalance whenever they reach it (app.py, `current`).
So a delivery is awaited directly while the flow runs, and in faust's interruptible form while
it is suspended.  What else `Consumer.getmany` and `_drain_messages` do in the pinned version
(faust-streaming 0.15.3) is kept: records of partitions no longer active are dropped, a fetch
from an older generation is abandoned, records already delivered are skipped, offsets skipped
by the broker (transaction markers) become gaps, the commit cadence is kept.
"""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from aiokafka.consumer import fetcher as aiokafka_fetcher
from faust.serializers import codecs
from faust.transport.consumer import CONSUMER_FETCHING as FETCHING
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types.tuples import ConsumerMessage

from .access_guard import AUTHORIZATION_ERRORS

#: how many single-record deliveries go between two yields to the event loop (faust: 100)
YIELD_EVERY = 1000


#: topics whose fetched records stay aiokafka's own record objects (every App's chunked_topics)
LEAN_TOPICS: set[str] = set()

_PartitionRecords = aiokafka_fetcher.PartitionRecords


class LeanPartitionRecords(_PartitionRecords):
    """A chunked topic's fetched records as the record objects aiokafka's C batch reader makes
    (``offset``, ``key``, ``value``, ``timestamp``, ``timestamp_type``, ``headers``), not a
    ``ConsumerRecord`` dataclass built around each in Python.  On the stream bench the
    consumer thread spent ~4 µs of the worker's ~17 µs per record unpacking fetches, a third of
    it making those dataclasses; the chunk already says which topic and partition its records
    come from.  Everything else (CRC checks, control batches, aborted transactions, positions)
    is aiokafka's."""

    def __iter__(self) -> Any:
        # the generator itself: a Python-level __next__ per record is a third frame per record
        return self._records_iterator if self._records_iterator is not None else iter(())

    def _consumer_record(self, tp: Any, record: Any) -> Any:
        if self._key_deserializer or self._value_deserializer:  # faust sets neither
            return super()._consumer_record(tp, record)
        return record


def _partition_records(tp: Any, *args: Any) -> Any:
    """What aiokafka's fetcher calls to wrap each partition's fetched data."""
    if tp.topic in LEAN_TOPICS:
        return LeanPartitionRecords(tp, *args)
    return _PartitionRecords(tp, *args)


# aiokafka's Fetcher looks the class up in its module for every fetched partition
aiokafka_fetcher.PartitionRecords = _partition_records


class Chunk(ConsumerMessage):
    """Consecutive records of one partition from one fetch, delivered as one message."""

    __slots__ = ("first_offset", "count")

    def __init__(self, tp: Any, records: list, generation_id: int) -> None:
        last = records[-1]
        super().__init__(
            tp.topic, tp.partition, last.offset,
            last.timestamp / 1000.0 if last.timestamp is not None else None,
            last.timestamp_type, None, None, records, None,
            serialized_key_size=0,
            serialized_value_size=sum(len(r.value) for r in records if r.value is not None),
            tp=tp, generation_id=generation_id,
        )
        self.first_offset: int = records[0].offset
        self.count: int = len(records)


class ChunkCodec(codecs.Codec):
    """A chunk's value is already the list of its records: nothing to decode."""

    def _loads(self, s: Any) -> Any:
        return s

    def _dumps(self, s: Any) -> Any:  # pragma: no cover - chunks are only ever consumed
        raise TypeError("a chunk is not sent")


class Consumer(aiokafka_driver.Consumer):
    #: topics whose records reach the streams as chunks, and the most records in one chunk
    #: (App's chunked_topics and chunk_records)
    chunked_topics: frozenset[str] = frozenset()
    chunk_records: int = 1000

    def records_waiting(self, topic: str) -> int:
        """Records of `topic` on the broker past what has been handed to the streams, over the
        assigned partitions whose positions are known (0 while they are not)."""
        waiting = 0
        for tp in self.assignment():
            if tp.topic != topic:
                continue
            highwater, read_offset = self.highwater(tp), self._read_offset.get(tp)
            if highwater is not None and read_offset is not None:
                waiting += max(0, highwater - read_offset - 1)
        return waiting

    async def _wait_next_records(self, timeout: float) -> tuple[Any, Any]:
        """faust's, except when every partition is paused because the streams' queues are
        full: then wait for one to drain (on_buffer_drop) instead of a fixed second, which left
        the agent idle for most of it whenever it was the slower side."""
        if not self.flow_active:
            await self.wait(self.can_resume_flow)
        try:
            self.not_waiting_next_records.set()
            active = self._get_active_partitions()
            if not active and self._buffered_partitions:
                resumed = self._resumed = asyncio.Event()
                try:
                    await asyncio.wait_for(resumed.wait(), timeout)
                except asyncio.TimeoutError:
                    pass
                active = self._get_active_partitions()
            if not active:
                await self.sleep(min(timeout, 0.1))  # nothing assigned yet
                return {}, active
            try:
                return await self._getmany(active_partitions=active, timeout=timeout), active
            except AUTHORIZATION_ERRORS as exc:  # a right revoked: stop, say which (access_guard)
                guard = getattr(self.app, "oddping_access", None)
                if guard is None:  # an app without one (bench/faustfloor.py): faust's way
                    raise
                guard.refused(self.app, exc)
                return {}, set()
        finally:
            self.not_waiting_next_records.set()

    def on_buffer_drop(self, tp: Any) -> None:
        super().on_buffer_drop(tp)
        resumed = getattr(self, "_resumed", None)
        if resumed is not None:
            resumed.set()

    async def seek_to_committed(self) -> Any:
        """faust's, and a chunked topic's partition that was never committed goes back to its
        beginning.  aiokafka leaves such a partition where it was; after a rebalance that gives
        it back to this worker, what was consumed before the rebalance and not yet checkpointed
        would be skipped, though the worker dropped that work to replay it from the last
        commit (found with two workers whose second joined before the first's checkpoint)."""
        committed = await super().seek_to_committed()
        never = [tp for tp, offset in committed.items()
                 if tp.topic in self.chunked_topics and not offset]
        if never:
            await self._thread.seek_to_beginning(*never)
        return committed

    def ack(self, message: Any) -> bool:
        """A chunk's ack stands for all of its offsets: faust commits a partition only up to
        its first offset not acked."""
        if not super().ack(message):
            return False
        first = getattr(message, "first_offset", None)
        if first is not None and first < message.offset:
            tp = message.tp
            committed = self._committed_offset[tp]
            if committed is not None:
                first = max(first, committed)
            acked_index = self._acked_index[tp]
            new = [offset for offset in range(first, message.offset) if offset not in acked_index]
            acked_index.update(new)
            self._acked[tp].extend(new)
        return True

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - see the tests
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        set_flag, unset_flag = self.diag.set_flag, self.diag.unset_flag
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(FETCHING)
                records, active = await self._wait_next_records(1.0)
                generation = self.app.consumer_generation_id
                await self.sleep(0)
                if not records or self.should_stop:
                    continue
                if not self.flow_active:
                    self.log.dev("fetched while the flow is not active: seek back to committed")
                    try:
                        await self.perform_seek()
                    except Exception as exc:
                        self.log.warning(f"exception performing seek when flow not active {exc}")
                    continue
                for tp, fetched in records.items():
                    if not self.flow_active or self.app.consumer_generation_id != generation:
                        break  # a rebalance began: faust seeks back and fetches again
                    if not (active is None or tp in active or tp in self._buffered_partitions):
                        continue
                    self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
                    if tp.topic in self.chunked_topics:
                        await self._deliver_chunk(tp, fetched, generation)
                    else:
                        await self._deliver_each(tp, fetched)
                unset_flag(FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        finally:
            unset_flag(FETCHING)

    async def _deliver_chunk(self, tp: Any, fetched: list, generation: int) -> None:
        # the last offset delivered, or after a seek the next one to deliver (faust's meaning)
        read_offset = self._read_offset.get(tp)
        if read_offset is not None and fetched[0].offset < read_offset:
            fetched = [r for r in fetched if r.offset >= read_offset]  # already delivered
            if not fetched:
                return
        await self._before_delivery(tp, read_offset, fetched[0].offset)
        size = self.chunk_records
        for start in range(0, len(fetched), size):
            chunk = Chunk(tp, fetched[start:start + size], generation)
            await self._deliver(chunk)
            self._read_offset[tp] = chunk.offset
            if not self.flow_active or self.app.consumer_generation_id != generation:
                return  # a rebalance began: the rest is fetched again from the committed offset

    async def _deliver_each(self, tp: Any, fetched: list) -> None:
        to_message = self._to_message
        since_yield = 0
        for record in fetched:
            since_yield += 1
            if since_yield >= YIELD_EVERY:
                await asyncio.sleep(0)
                since_yield = 0
            read_offset = self._read_offset.get(tp)
            if read_offset is not None and record.offset < read_offset:
                continue  # already delivered (faust drops these too)
            await self._before_delivery(tp, read_offset, record.offset)
            await self._deliver(to_message(tp, record))
            self._read_offset[tp] = record.offset

    async def _before_delivery(self, tp: Any, read_offset: int | None, offset: int) -> None:
        # offsets the broker skipped (transaction markers, compaction) count as done, or the
        # partition could never be committed past them
        if read_offset and offset - read_offset > 1 and self.app.topics.acks_enabled_for(tp.topic):
            await self._add_gap(tp, read_offset + 1, offset - 1)
        if self._commit_every is not None and self._n_acked >= self._commit_every:
            self._n_acked = 0
            await self.commit()

    async def _deliver(self, message: ConsumerMessage) -> None:
        if self.suspend_flow.is_set():
            await self.wait_first(self.callback(message), self.suspend_flow.wait())
        else:
            await self.callback(message)


class Transport(aiokafka_driver.Transport):
    Consumer = Consumer


class App(faust.App):
    """A faust app whose consumer is the one above (its producer is faust's own).

    chunked_topics: topics delivered in chunks (at most chunk_records records of one partition
    from one fetch); subscribe to them with ``value_serializer=CHUNKS`` and ``value_type=None``,
    and read each event's value as a list of records."""

    def __init__(self, *args: Any, chunked_topics: frozenset[str] = frozenset(),
                 chunk_records: int = Consumer.chunk_records, **kwargs: Any) -> None:
        self.chunked_topics = frozenset(chunked_topics)
        self.chunk_records = chunk_records
        super().__init__(*args, **kwargs)

    def _new_transport(self) -> Transport:
        return Transport(self.conf.broker_consumer, self)

    def _new_consumer(self) -> Consumer:
        consumer = super()._new_consumer()
        consumer.chunked_topics = self.chunked_topics
        LEAN_TOPICS.update(self.chunked_topics)
        consumer.chunk_records = self.chunk_records
        return consumer


#: the value serializer of a chunked topic
CHUNKS = ChunkCodec()
