"""`oddping produce`: capture files, a live interface or a watched directory -> Kafka.

Watch mode commits each file's records together with a progress marker in one Kafka transaction
(per chunk of records), and reads the markers back at start-up, so a producer killed at any
moment and restarted neither skips nor republishes anything (for read_committed consumers).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition
from prometheus_client.core import CounterMetricFamily

from oddping.config import Settings
from oddping.kafka import client_config, ensure_topics, preflight
from oddping.logs import get_logger
from oddping.metrics_port import serve_health
from oddping.observability import HealthServer, ProducerMetrics

from . import iter_records
from .accounting import Accounting
from .capture.files import CaptureError, CaptureReader
from .capture.live import LiveCapture
from .capture.privileges import drop_privileges
from .capture.watch import WatchedDirectory
from .decode.decoder import Decoder
from .publish import RecordPublisher

log = get_logger("oddping.produce")

WATCH_POLL_S = 1.0
WATCH_CHUNK_RECORDS = 20_000  # records per transaction in watch mode
PROGRESS_SUFFIX = ".progress"


@dataclass
class ProduceOutcome:
    account: Accounting = field(default_factory=Accounting)
    capture_errors: list[str] = field(default_factory=list)
    delivered: int = 0
    failed: int = 0
    first_failure: str | None = None
    undelivered: int = 0
    #: live capture: records shed because the producer queue was full (publish.offer)
    shed: int = 0


class AccountingCollector:
    """Exposes the live packet accounting as Prometheus counters at scrape time."""

    def __init__(self, accounts: list[Accounting]) -> None:
        self.accounts = accounts

    def collect(self):  # noqa: ANN201 (prometheus collector protocol)
        total = Accounting()
        for account in self.accounts:
            total.merge(account)
        family = CounterMetricFamily("oddping_packets", "Frames read, by outcome and reason",
                                     labels=["outcome", "reason"])
        family.add_metric(["record", ""], total.records)
        family.add_metric(["host_observation", ""], total.host_observations)
        for reason, n in total.skipped.items():
            family.add_metric(["skipped", reason], n)
        for reason, n in total.malformed.items():
            family.add_metric(["malformed", reason], n)
        yield family
        yield CounterMetricFamily("oddping_packets_read", "Frames read", value=total.packets_read)


class Producer:
    def __init__(self, settings: Settings, topic: str | None = None) -> None:
        self.settings = settings
        self.topic = topic or settings.kafka.records_topic
        self.metrics = ProducerMetrics()
        self.accounts: list[Accounting] = []
        self.metrics.registry.register(AccountingCollector(self.accounts))
        self.stop = threading.Event()
        self.outcome = ProduceOutcome()
        self.publisher: RecordPublisher | None = None
        self._health: HealthServer | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self, transactional_id: str | None = None) -> None:
        kafka = self.settings.kafka
        preflight(kafka)
        topics = {self.topic: {}}
        if transactional_id:
            topics[self.topic + PROGRESS_SUFFIX] = {"cleanup.policy": "compact"}
        created = ensure_topics(kafka, topics)
        if created:
            log.info("created topics", topics=created, partitions=kafka.partitions)
        self.publisher = RecordPublisher(kafka, self.settings.sensor_id, self.metrics,
                                         topic=self.topic, transactional_id=transactional_id)
        self._health = serve_health(self.settings.metrics, "produce", self.metrics.registry,
                                    self._healthy)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, _frame: object) -> None:
        log.info("stopping", signal=signal.Signals(signum).name)
        self.stop.set()

    def _healthy(self) -> tuple[bool, str]:
        if self.publisher is not None and self.publisher.fatal:
            return False, f"kafka fatal error: {self.publisher.fatal}"
        return True, "ok"

    def finish(self) -> ProduceOutcome:
        publisher = self.publisher
        assert publisher is not None
        self.outcome.undelivered = publisher.flush(60.0)
        for account in self.accounts:
            self.outcome.account.merge(account)
        self.outcome.delivered = publisher.delivered
        self.outcome.shed = sum(publisher.shed_by_kind.values())
        self.outcome.failed = publisher.failed + self.outcome.undelivered
        self.outcome.first_failure = publisher.first_failure
        if self._health is not None:
            self._health.stop()
        return self.outcome

    def _decoder(self) -> Decoder:
        decoder = Decoder(self.settings.sensor_id,
                          self.settings.capture.host_observation_interval_s)
        self.accounts.append(decoder.account)
        return decoder

    def _publish_all(self, records: Iterable[dict]) -> int:
        publish = self.publisher.publish  # type: ignore[union-attr]
        dumps = orjson.dumps
        count = 0
        for record in records:
            publish(record, dumps(record))
            count += 1
            if self.stop.is_set():
                break
        return count

    # -- sources ----------------------------------------------------------------------------------

    def run_files(self, paths: list[str], realtime: bool = False) -> None:
        for path in paths:
            if self.stop.is_set():
                break
            reader = CaptureReader(path, bpf=self.settings.capture.bpf)
            records = iter_records(reader, self._decoder())
            self._publish_all(_paced(records, self.stop) if realtime else records)
            if reader.error:
                self.outcome.capture_errors.append(reader.error)

    def run_live(self, interface: str) -> None:
        capture_settings = self.settings.capture
        capture = LiveCapture(interface, capture_settings.bpf, capture_settings.snaplen,
                              capture_settings.promiscuous, capture_settings.buffer_mb)
        drop_privileges(capture_settings.user)  # the handle is open: root is no longer needed
        decoder = self._decoder()
        # never waits on Kafka: a full producer queue sheds records, counted (publish.offer)
        offer = self.publisher.offer  # type: ignore[union-attr]
        dumps = orjson.dumps
        last_stats = time.monotonic()
        log.info("capturing", interface=interface, linktype=capture.linktype)
        for frame in capture.frames(self.stop):
            if frame is not None:
                _no, ts_ns, linktype, data, wire_len = frame
                for record in decoder.decode_frame(linktype, data, ts_ns, wire_len):
                    offer(record, dumps(record))
            now = time.monotonic()
            if now - last_stats >= 1.0:
                self._update_capture_stats(capture)
                last_stats = now
        self._update_capture_stats(capture)
        decoder.finish()

    def _update_capture_stats(self, capture: LiveCapture) -> None:
        _received, dropped, if_dropped = capture.stats()
        self.metrics.libpcap_drops.labels("kernel").set(dropped)
        self.metrics.libpcap_drops.labels("interface").set(if_dropped)
        self.publisher.serve()  # type: ignore[union-attr]
        self.publisher.queue_depth()  # type: ignore[union-attr]

    def run_watch(self, directory: str, pattern: str = "*") -> None:
        publisher = self.publisher
        assert publisher is not None
        watched = WatchedDirectory(directory, pattern, self.settings.capture.watch_settle_seconds)
        progress_topic = self.topic + PROGRESS_SUFFIX
        key_prefix = f"{self.settings.sensor_id}|{watched.directory.resolve()}|"
        publisher.init_transactions()
        progress = read_progress(self.settings, progress_topic, key_prefix)
        log.info("watching", directory=directory, files_already_done=sum(
            1 for p in progress.values() if p.get("done")))
        while not self.stop.is_set():
            for capture_file in watched.finished(time.time_ns()):
                if self.stop.is_set():
                    break
                name = capture_file.path.name
                state = progress.get(name, {})
                if state.get("done"):
                    continue
                progress[name] = self._publish_watched_file(
                    capture_file.path, key_prefix + name, progress_topic,
                    int(state.get("records", 0)))
            self.stop.wait(WATCH_POLL_S)

    def _publish_watched_file(self, path, key: str, progress_topic: str, already: int) -> dict:
        """Publish one finished file in transactions of WATCH_CHUNK_RECORDS records, each with a
        progress marker, skipping the records a previous run already committed."""
        publisher = self.publisher
        assert publisher is not None
        reader = CaptureReader(str(path), bpf=self.settings.capture.bpf)
        decoder = self._decoder()  # one per file: decoding a file again gives the same records
        position = 0
        publisher.begin()
        in_transaction = 0
        dumps = orjson.dumps
        for record in iter_records(reader, decoder):
            position += 1
            if position <= already:
                continue
            publisher.publish(record, dumps(record))
            in_transaction += 1
            if in_transaction >= WATCH_CHUNK_RECORDS:
                marker = {"file": path.name, "records": position, "done": False}
                publisher.produce_raw(progress_topic, key.encode(), dumps(marker))
                publisher.commit()
                publisher.begin()
                in_transaction = 0
            if self.stop.is_set():  # uncommitted records are aborted with the transaction
                return {"records": position - in_transaction, "done": False}
        marker = {"file": path.name, "records": position, "done": True,
                  "error": reader.error}
        publisher.produce_raw(progress_topic, key.encode(), dumps(marker))
        publisher.commit()
        self.metrics.files_done.inc()
        if reader.error:
            self.outcome.capture_errors.append(reader.error)
        log.info("published file", file=path.name, records=position - already,
                 skipped_already_published=already)
        return marker


def read_progress(settings: Settings, topic: str, key_prefix: str) -> dict[str, dict]:
    """The committed progress markers of this sensor and directory: file name -> last marker."""
    consumer = Consumer(client_config(settings.kafka) | {
        "group.id": "oddping-progress-reader",
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
        "enable.partition.eof": True,
    })
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        partitions = list(metadata.topics[topic].partitions) if topic in metadata.topics else []
        progress: dict[str, dict] = {}
        pending = set()
        assignments = []
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                pending.add(p)
                assignments.append(TopicPartition(topic, p, OFFSET_BEGINNING))
        if not assignments:
            return progress
        consumer.assign(assignments)
        prefix = key_prefix.encode()
        deadline = time.monotonic() + 60
        while pending and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == msg.error()._PARTITION_EOF:
                    pending.discard(msg.partition())
                continue
            key = msg.key() or b""
            if key.startswith(prefix):
                progress[key[len(prefix):].decode()] = orjson.loads(msg.value())
        return progress
    except KafkaException as exc:
        raise CaptureError(f"cannot read watch progress from {topic}: {exc}") from None
    finally:
        consumer.close()


def _paced(records: Iterable[dict], stop: threading.Event) -> Iterator[dict]:
    """Replay at capture speed: wait so records leave as far apart as they were captured."""
    start_wall = start_capture = None
    for record in records:
        ts = record["ts_ns"]
        if start_capture is None:
            start_wall, start_capture = time.monotonic_ns(), ts
        delay = (ts - start_capture) - (time.monotonic_ns() - start_wall)
        if delay > 0 and stop.wait(delay / 1e9):
            return
        yield record
