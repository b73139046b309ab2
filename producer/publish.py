"""Records to Kafka with confluent-kafka: keyed by the echo initiator, stamped with capture time.

Idempotence is on (acks=all), so a broker that goes away for a while and comes back gets every
record exactly once.  Reading files, a full local queue is backpressure (wait and retry), never
a drop; capturing live, waiting would stall the capture loop, so a record that finds the queue
full is shed and counted instead (``offer``, oddping_records_shed_total).  The
partitioner is murmur2_random so keys land where Java clients and aiokafka (faust) put them.
"""

from __future__ import annotations

import time

import orjson
from confluent_kafka import KafkaError, KafkaException, Message, Producer

from oddping import RECORD_SCHEMA_VERSION
from oddping.config import KafkaSettings
from oddping.kafka import ErrorCollector, KafkaUnavailable, client_config
from oddping.logs import get_logger
from oddping.observability import ProducerMetrics

log = get_logger("oddping.produce")

PRODUCER_DEFAULTS = {
    "enable.idempotence": True,  # implies acks=all and safe retries
    "acks": "all",
    "compression.type": "lz4",
    "linger.ms": 50,
    "batch.size": 1_000_000,
    "partitioner": "murmur2_random",
    "queue.buffering.max.messages": 500_000,
    # keep retrying through a broker restart; a record only fails after this long
    "message.timeout.ms": 300_000,
}
SCHEMA_VERSION_HEADER = str(RECORD_SCHEMA_VERSION).encode()
BACKPRESSURE_POLL_S = 0.05
WARNING_INTERVAL_S = 10.0
POLL_EVERY = 512  # records between polls: delivery callbacks and the published metric, in bulk
RECORD_KINDS = ("icmp", "host_observation", "fragment_anomaly")


class DeliveryFailed(Exception):
    pass


class RecordPublisher:
    def __init__(self, kafka: KafkaSettings, sensor_id: str, metrics: ProducerMetrics,
                 topic: str | None = None, transactional_id: str | None = None) -> None:
        self.topic = topic or kafka.records_topic
        self.metrics = metrics
        self.errors = ErrorCollector()
        conf = client_config(kafka) | {"error_cb": self._on_error}
        conf = PRODUCER_DEFAULTS | conf  # user's kafka.extra wins over our defaults
        if transactional_id:
            conf["transactional.id"] = transactional_id
            conf.setdefault("transaction.timeout.ms", conf["message.timeout.ms"])
        try:
            self.producer = Producer(conf)
        except KafkaException as exc:
            raise KafkaUnavailable(f"cannot create a Kafka producer: {exc.args[0].str()}") from None
        self.sensor_header = sensor_id.encode()
        self.delivered_by_kind = dict.fromkeys(RECORD_KINDS, 0)
        #: live capture only: records dropped because the local queue was full (offer)
        self.shed_by_kind = dict.fromkeys(RECORD_KINDS, 0)
        self._reported_by_kind = dict.fromkeys(RECORD_KINDS, 0)  # what the metric already says
        self.failed = 0
        self.first_failure: str | None = None
        self.fatal: str | None = None
        self._last_warning = -WARNING_INTERVAL_S
        # per record kind: its headers (built once; librdkafka copies them) and delivery callback
        self._by_kind = {
            kind: ([("schema_version", SCHEMA_VERSION_HEADER), ("sensor_id", self.sensor_header),
                    ("kind", kind.encode())], self._delivered(kind))
            for kind in RECORD_KINDS
        }
        self._unpolled = 0

    @property
    def delivered(self) -> int:
        return sum(self.delivered_by_kind.values())

    # -- callbacks -------------------------------------------------------------------------------

    def _on_error(self, error: KafkaError) -> None:
        self.errors(error)
        if error.fatal():
            self.fatal = error.str()
            log.error("kafka fatal error", error=error.str())
            return
        # transient (a broker restarting ...): librdkafka retries by itself; say so now and then
        now = time.monotonic()
        if now - self._last_warning >= WARNING_INTERVAL_S:
            self._last_warning = now
            log.warning("kafka trouble, retrying", error=error.str())

    def _delivered(self, kind: str):  # noqa: ANN202 (a delivery callback per record kind)
        delivered = self.delivered_by_kind

        # Runs once per record: a plain count here, the Prometheus counter (a lock per inc) is
        # brought up to date in bulk by _report_delivered.
        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            if err is None:
                delivered[kind] += 1
            else:
                self._failed(err)

        return on_delivery

    def _report_delivered(self) -> None:
        """Bring oddping_records_published_total up to the deliveries counted so far."""
        reported = self._reported_by_kind
        for kind, count in self.delivered_by_kind.items():
            if count != reported[kind]:
                self.metrics.published.labels(kind).inc(count - reported[kind])
                reported[kind] = count

    def _failed(self, err: KafkaError) -> None:
        self.failed += 1
        self.metrics.delivery_failures.inc()
        if self.first_failure is None:
            self.first_failure = err.str()

    # -- producing -------------------------------------------------------------------------------

    def publish(self, record: dict, value: bytes | None = None) -> None:
        """Queue one record; `value` is its JSON when the caller already serialised it."""
        if value is None:
            value = orjson.dumps(record)
        headers, on_delivery = self._by_kind[record["kind"]]
        produce = self.producer.produce
        while True:
            try:
                produce(self.topic, value, record["initiator_ip"].encode(),
                        timestamp=record["ts_ns"] // 1_000_000, headers=headers,
                        on_delivery=on_delivery)
                break
            except BufferError:  # local queue full: let librdkafka drain it, then try again
                self.metrics.backpressure.inc()
                self.producer.poll(BACKPRESSURE_POLL_S)
        self._unpolled += 1
        if self._unpolled >= POLL_EVERY:  # serve delivery callbacks in bulk, not per record
            self._unpolled = 0
            self.producer.poll(0)
            self._report_delivered()

    def offer(self, record: dict, value: bytes) -> bool:
        """Queue one record without ever waiting (the live capture loop): when the local queue
        is full, serve delivery callbacks once and try again; still full, the record is shed,
        counted by kind (oddping_records_shed_total).  Waiting here would stall the capture
        loop and turn into kernel drops that nobody can attribute; shedding here keeps the
        loop reading and says what was lost.  Returns whether the record was queued."""
        headers, on_delivery = self._by_kind[record["kind"]]
        key = record["initiator_ip"].encode()
        timestamp = record["ts_ns"] // 1_000_000
        for attempt in (0, 1):
            try:
                self.producer.produce(self.topic, value, key, timestamp=timestamp,
                                      headers=headers, on_delivery=on_delivery)
                break
            except BufferError:
                if attempt:
                    self.shed_by_kind[record["kind"]] += 1
                    self.metrics.shed.labels(record["kind"]).inc()
                    return False
                self.producer.poll(0)
        self._unpolled += 1
        if self._unpolled >= POLL_EVERY:
            self._unpolled = 0
            self.producer.poll(0)
            self._report_delivered()
        return True

    def produce_raw(self, topic: str, key: bytes, value: bytes) -> None:
        """A message that is not a record (the watch progress marker)."""
        self.producer.produce(topic, value, key, on_delivery=self._on_delivery_quiet)

    def _on_delivery_quiet(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None and self.first_failure is None:
            self.first_failure = err.str()
            self.failed += 1

    def serve(self) -> None:
        """Run delivery callbacks that are due (the live loop calls this while traffic is quiet)."""
        self.producer.poll(0)
        self._report_delivered()

    def queue_depth(self) -> int:
        depth = len(self.producer)
        self.metrics.queue_depth.set(depth)
        return depth

    def flush(self, timeout_s: float = 60.0) -> int:
        """Wait for outstanding deliveries; returns how many are still undelivered."""
        remaining = self.producer.flush(timeout_s)
        self._report_delivered()
        self.queue_depth()
        return remaining

    # -- transactions (watch mode: a file's records and its progress marker commit together) -----

    def init_transactions(self, timeout_s: float = 30.0) -> None:
        self.producer.init_transactions(timeout_s)

    def begin(self) -> None:
        self.producer.begin_transaction()

    def commit(self, timeout_s: float = 120.0) -> None:
        try:
            self.producer.commit_transaction(timeout_s)
        except KafkaException as exc:
            raise DeliveryFailed(f"transaction commit failed: {exc.args[0].str()}") from None
        self._report_delivered()  # the commit waited for (and served) the chunk's deliveries
