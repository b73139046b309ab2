"""The faust-streaming worker: records topic -> detection engine -> alerts topic.

- aiokafka transport (`kafka://`), so faust's co-partitioning assignor keeps the records topic
  and the host-state changelog aligned; one agent, concurrency 1.
- Host state lives in a faust Table (memory store, or rocksdb) backed by its changelog topic.
  Writes name their partition explicitly (the partition the host's records arrive on) because a
  batch from `take_events` spans partitions and faust would otherwise use the last event's.
- Findings are emitted by the engine on event time; faust's wall-clock windows
  (`on_window_close`) are not used.
- A batch's alerts, dead letters and state are acknowledged by Kafka before the batch's
  offsets can be committed: at-least-once, with replays skipped by offset (see batch.py), and a
  repeated alert carries the same alert_id.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from typing import Any

import faust
import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge

from oddping.config import Settings
from oddping.logs import get_logger
from processors.engine import Engine

from .batch import BatchProcessor, BatchResult, Message

log = get_logger("oddping.process")

IDLE_FLUSH_S = 10.0  # wall-clock quiet time after which open windows are closed (see batch.py)
TAKE_WITHIN_S = 0.5


# faust settings of the worker (also used by bench/faustfloor.py, so the floor it measures is
# this worker's consuming machinery and nothing else)
WORKER_APP_OPTIONS: dict[str, Any] = {
    "consumer_auto_offset_reset": "earliest",
    "processing_guarantee": "at_least_once",
    "web_enabled": False,  # /metrics and /healthz come from our own small server
    "table_standby_replicas": 0,
    "producer_acks": -1,
    "producer_compression_type": "lz4",
    "stream_wait_empty": False,
    # a worker that dies hard is noticed in seconds, not after the 60 s default, so its
    # partitions move to the survivors (or its restarted self) quickly
    "broker_session_timeout": 10.0,
    "broker_heartbeat_interval": 3.0,
}


class ProcessorMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.consumed = Counter("oddping_records_consumed_total", "Records read from the topic",
                                registry=r)
        self.alerts = Counter("oddping_alerts_published_total", "Alerts written", ["rule"],
                              registry=r)
        self.dead_letters = Counter("oddping_dead_letters_total",
                                    "Messages sent to the dead-letter topic", ["reason"],
                                    registry=r)
        self.replays = Counter("oddping_replays_skipped_total",
                               "Messages already applied before a restart", registry=r)
        self.suppressed = Gauge("oddping_findings_suppressed", "Findings suppressed, by rule",
                                ["rule"], registry=r)
        self.hosts = Gauge("oddping_hosts_tracked", "Hosts with state on this worker", registry=r)
        self.evicted = Gauge("oddping_hosts_evicted", "Hosts evicted to respect the cap",
                             registry=r)


def _credentials(settings: Settings) -> Any:
    kafka = settings.kafka
    context = None
    if kafka.security_protocol in ("SSL", "SASL_SSL"):
        context = ssl.create_default_context(cafile=kafka.ssl_ca_location)
        if kafka.ssl_certificate_location:
            context.load_cert_chain(kafka.ssl_certificate_location, kafka.ssl_key_location,
                                    kafka.ssl_key_password.get_secret_value()
                                    if kafka.ssl_key_password else None)
    if kafka.security_protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=kafka.sasl_username, password=kafka.sasl_password.get_secret_value()
            if kafka.sasl_password else None, mechanism=kafka.sasl_mechanism or "PLAIN",
            ssl_context=context)
    if context is not None:
        return faust.SSLCredentials(context)
    return None


def build_app(settings: Settings, metrics: ProcessorMetrics) -> faust.App:
    kafka = settings.kafka
    proc = settings.processor
    app = faust.App(
        proc.app_id,
        broker=[f"kafka://{server}" for server in kafka.bootstrap_servers.split(",")],
        broker_credentials=_credentials(settings),
        store="rocksdb://" if proc.store == "rocksdb" else "memory://",
        datadir=proc.data_dir,
        topic_partitions=kafka.partitions,
        topic_replication_factor=kafka.replication_factor,
        **WORKER_APP_OPTIONS,
    )
    records = app.topic(kafka.records_topic, key_type=bytes, value_type=bytes,
                        key_serializer="raw", value_serializer="raw",
                        partitions=kafka.partitions)
    alerts_topic = app.topic(kafka.alerts_topic, key_serializer="raw", value_serializer="raw",
                             partitions=kafka.partitions)
    dead_letters = app.topic(kafka.dead_letter_topic, key_serializer="raw",
                             value_serializer="raw", partitions=kafka.partitions)
    # bytes keys and values travel raw: keys are IP strings, values already JSON
    hosts = app.Table("host-state", default=None, partitions=kafka.partitions,
                      key_type=bytes, value_type=bytes)

    def table_get(host: str) -> bytes | None:
        value = hosts.data.get(host.encode())
        return value if value is not None else None

    processor = BatchProcessor(lambda: Engine(settings, track_changes=True), table_get)
    alert_format = proc.alert_format
    last_input = [time.monotonic()]
    idle_flushed = [False]  # a restarted worker may hold adopted windows to emit

    async def publish(result: BatchResult) -> None:
        pending = []
        for alert in result.alerts:
            pending.append(await alerts_topic.send(key=alert.src_ip.encode(),
                                                   value=alert.to_json(alert_format)))
            metrics.alerts.labels(alert.rule_id).inc()
        for dead in result.dead_letters:
            pending.append(await dead_letters.send(
                key=dead.message.key, value=dead.message.value or b"",
                headers=[("reason", dead.reason.encode()),
                         ("source_partition", str(dead.message.partition).encode()),
                         ("source_offset", str(dead.message.offset).encode())]))
            metrics.dead_letters.labels(dead.reason.split(":")[0]).inc()
        for host, (partition, value) in result.table_updates.items():
            key = host.encode()
            if value is None:
                hosts.data.pop(key, None)
                pending.append(hosts.send_changelog(partition, key, None, value_serializer="raw"))
            else:
                hosts.data[key] = value
                pending.append(hosts.send_changelog(partition, key, value))
        if pending:  # acknowledged before this batch's offsets may be committed
            await asyncio.gather(*pending)
        stats = processor.engine.stats
        metrics.hosts.set(stats.hosts_tracked)
        metrics.evicted.set(stats.hosts_evicted)
        for rule, n in stats.suppressed.items():
            metrics.suppressed.labels(rule).set(n)

    @app.agent(records, concurrency=1)
    async def detect(stream: faust.StreamT) -> None:
        async for events in stream.take_events(proc.batch_size, within=TAKE_WITHIN_S):
            batch = [Message(e.message.partition, e.message.offset, e.message.key, e.value)
                     for e in events]
            before = processor.stats.replays_skipped
            result = processor.process(batch)
            metrics.consumed.inc(len(batch))
            metrics.replays.inc(processor.stats.replays_skipped - before)
            await publish(result)
            last_input[0] = time.monotonic()
            idle_flushed[0] = False

    @app.timer(interval=1.0)
    async def close_idle_windows() -> None:
        if idle_flushed[0] or time.monotonic() - last_input[0] < IDLE_FLUSH_S:
            return
        idle_flushed[0] = True
        await publish(processor.flush_idle())

    @hosts.on_recover
    async def adopt_recovered_hosts() -> None:
        adopted = processor.adopt_saved((key.decode(), value) for key, value in
                                        list(hosts.data.items()) if value is not None)
        await publish(adopted)
        idle_flushed[0] = False

    @app.on_partitions_revoked.connect
    async def on_revoked(app_: faust.App, revoked: set, **kwargs: Any) -> None:
        processor.forget_partitions({tp.partition for tp in revoked
                                     if tp.topic == kafka.records_topic})

    app.oddping_processor = processor  # type: ignore[attr-defined]
    return app


def run_worker(settings: Settings) -> int:
    """Run the worker until SIGTERM/SIGINT; returns the exit status."""
    from faust.worker import Worker

    from oddping.observability import HealthServer

    metrics = ProcessorMetrics()
    app = build_app(settings, metrics)
    health = None
    if settings.metrics.port:
        health = HealthServer(settings.metrics.host, settings.metrics.port, metrics.registry,
                              lambda: (True, "ok")).start()
    worker = Worker(app, loglevel=settings.log_level.lower(), quiet=True)
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0)
    finally:
        if health is not None:
            health.stop()
        stats = app.oddping_processor.stats  # type: ignore[attr-defined]
        log.info("worker stopped", consumed=stats.consumed, dead_letters=dict(stats.dead_letters),
                 replays_skipped=stats.replays_skipped, **{
                     "engine": orjson.loads(orjson.dumps(app.oddping_processor.engine.stats.as_dict()))})
    return 0
