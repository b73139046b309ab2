"""The faust-streaming worker: records topic -> detection engine -> alerts topic.

- aiokafka transport (`kafka://`), so faust's co-partitioning assignor keeps the records topic
  and the host-state changelog aligned; one agent, concurrency 1.  The consumer hands the agent
  each partition's share of a fetch as one event (a chunk of records, transport.py), so faust's
  per-event machinery runs once per chunk, not once per record.
- Host state lives in a faust Table (memory store, or rocksdb) backed by its changelog topic.
  Writes name their partition explicitly (the partition the host's records arrive on): they
  happen at checkpoints, outside any one event, so faust cannot tell the partition by itself.
- Findings are emitted by the engine on event time; faust's wall-clock windows
  (`on_window_close`) are not used.  Alerts come out as versions (processors/lifecycle.py):
  open ones as event time makes them due, the closed one when the window closes; when the input
  has been quiet for `processor.alert_idle_emit_s` (wall clock), every alert with evidence not
  yet emitted gets an open version, since event time stands still while nothing arrives.
- Checkpoints (every `checkpoint_interval_s` or `checkpoint_max_records`): the state of the
  hosts changed since the last one goes to the table's changelog, and only once Kafka has
  acknowledged it, and every alert and dead letter sent since, are the messages consumed since
  acked, so faust may commit their offsets: at-least-once, with replays skipped by offset (see
  batch.py), and a repeated alert carries the same alert_id.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from typing import Any

import faust
import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from oddping.config import ProcessorSettings, Settings
from oddping.kafka_access import principal
from oddping.logs import get_logger
from processors.engine import Engine

from . import campaigns
from .access_guard import AccessGuard
from .batch import BatchProcessor, BatchResult
from .health import Progress
from .sends import REVOKE_FLUSH_S, acknowledged, cached_partitioner
from .transport import CHUNKS, App

log = get_logger("oddping.process")

#: alert latency histogram buckets, seconds (the target: p99 under 2 s, everything under 5 s)
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 300.0)


# faust settings of the worker (with worker_app_options also used by bench/faustfloor.py, so
# the floor it measures is this worker's consuming machinery and nothing else)
WORKER_APP_OPTIONS: dict[str, Any] = {
    "consumer_auto_offset_reset": "earliest",
    "processing_guarantee": "at_least_once",
    "web_enabled": False,  # /metrics and /healthz come from our own small server
    "table_standby_replicas": 0,
    "producer_acks": -1,
    # A checkpoint sends thousands of ~4 kB host states at once.  aiokafka compresses lz4 at
    # level 9 (~45 µs per state here); zstd is ~18 µs and a third smaller.  Batches of up to
    # 1 MB instead of 16 kB: a few requests per checkpoint instead of hundreds.
    "producer_compression_type": "zstd",
    "producer_max_batch_size": 1_000_000,
    "stream_wait_empty": False,
    # The agent's queue holds chunks (up to processor.batch_size records each): room for a few
    # fetches ahead of the agent, after which faust pauses the partitions (backpressure that
    # bounds the worker's memory).
    "stream_buffer_maxsize": 64,
    # a worker that dies hard is noticed in seconds, not after the 60 s default, so its
    # partitions move to the survivors (or its restarted self) quickly
    "broker_session_timeout": 10.0,
    # A member learns that another joined (a rebalance) only from its next heartbeat; until
    # then it works alone on every partition, and what it has not checkpointed is done again
    # by the new owners.  Two workers started together on the stream bench: every 3 s, the
    # second took its first record 3.1-3.4 s after the first, which had taken 123-144k of the
    # 292k records alone, 121-134k of them done twice (3 runs); every 1 s: 1.2-2.2 s, 23-60k,
    # 14-56k (3 runs).  A heartbeat a second per worker is nothing to the broker.
    "broker_heartbeat_interval": 1.0,
    # keyed sends (alert versions, dead letters) placed as aiokafka's default partitioner does,
    # the key's murmur2 cached (sends.py)
    "producer_partitioner": cached_partitioner,
}


def worker_app_options(proc: ProcessorSettings) -> dict[str, Any]:
    """The worker's faust settings: the fixed ones and those the processor section sets."""
    return WORKER_APP_OPTIONS | {
        "consumer_max_fetch_size": proc.fetch_partition_bytes,
        "broker_max_poll_records": proc.poll_records,
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
        # many sensors (issue 13): labelled by sensor id
        self.clock_offset = Gauge("oddping_sensor_clock_offset_seconds",
                                  "A sensor's clock against the others' (median over packets "
                                  "several sensors captured)", ["sensor"], registry=r)
        self.copies = Gauge("oddping_records_copies", "Records that were another sensor's copy "
                            "of a packet already seen (counted once), by sensor", ["sensor"],
                            registry=r)
        self.same_sensor_duplicates = Gauge(
            "oddping_records_same_sensor_duplicates", "Records that were a sensor's second "
            "capture of a packet it already gave (a SPAN of both directions; counted once), by "
            "sensor", ["sensor"], registry=r)
        self.late = Gauge("oddping_records_late", "Records more than sensor_late_bound_s behind "
                          "their host's newest record, by sensor", ["sensor"], registry=r)
        self.evicted_by_tier = Gauge(
            "oddping_hosts_evicted_by_tier", "Hosts evicted to respect the cap, by admission "
            "tier (probation: new hosts; protected: hosts with history)", ["tier"], registry=r)
        self.flood_absorbed = Gauge(
            "oddping_flood_absorbed", "Echo requests from new sources folded into a flood "
            "instead of becoming hosts", registry=r)
        self.findings_folded = Gauge(
            "oddping_findings_folded", "Per-source findings folded into a flood alert, by rule",
            ["rule"], registry=r)
        self.over_budget = Gauge(
            "oddping_alerts_over_budget", "Alert emissions dropped by the alert budget",
            registry=r)
        self.versions = Counter("oddping_alert_versions_total",
                                "Alert versions written, by status (open, closed, dismissed)",
                                ["status"], registry=r)
        self.updates_held = Counter("oddping_alert_updates_held_total",
                                    "Updates of open alerts that waited for "
                                    "alert_update_interval_s", registry=r)
        self.latency = Histogram("oddping_alert_latency_seconds",
                                 "Wall seconds from taking the chunk holding the record that "
                                 "produced an alert version to Kafka acknowledging the alert",
                                 buckets=LATENCY_BUCKETS, registry=r)


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


def build_app(settings: Settings, metrics: ProcessorMetrics, progress: Progress) -> faust.App:
    kafka = settings.kafka
    proc = settings.processor
    campaigns_on = settings.campaigns.enabled and settings.campaigns.stream
    app = App(
        proc.app_id,
        chunked_topics=frozenset({kafka.records_topic} | (
            {campaigns.behaviours_topic_name(proc.app_id)} if campaigns_on else set())),
        broker=[f"kafka://{server}" for server in kafka.bootstrap_servers.split(",")],
        broker_credentials=_credentials(settings),
        store="rocksdb://" if proc.store == "rocksdb" else "memory://",
        datadir=proc.data_dir,
        topic_partitions=kafka.partitions,
        topic_replication_factor=kafka.replication_factor,
        chunk_records=proc.batch_size,
        **worker_app_options(proc),
    )
    # each event's value is a chunk: one partition's records from one fetch (transport.py)
    records = app.topic(kafka.records_topic, key_type=bytes, value_type=None,
                        key_serializer="raw", value_serializer=CHUNKS,
                        partitions=kafka.partitions)
    alerts_topic = app.topic(kafka.alerts_topic, key_serializer="raw", value_serializer="raw",
                             partitions=kafka.partitions)
    alerts_name = alerts_topic.get_topic_name()
    dead_letters = app.topic(kafka.dead_letter_topic, key_serializer="raw",
                             value_serializer="raw", partitions=kafka.partitions)
    # bytes keys and values travel raw: keys are IP strings, values already JSON
    hosts = app.Table("host-state", default=None, partitions=kafka.partitions,
                      key_type=bytes, value_type=bytes)

    def table_get(host: str) -> bytes | None:
        value = hosts.data.get(host.encode())
        return value if value is not None else None

    processor = BatchProcessor(lambda: Engine(settings, track_changes=True), table_get,
                               settings.campaigns if campaigns_on else None)
    access = AccessGuard(principal(kafka))  # a right revoked while running: stop, say which
    alert_format = proc.alert_format
    last_input = [time.monotonic()]
    last_taken = [time.monotonic()]  # when the agent took its latest chunk
    held_seen = [0]  # engine.stats.updates_held already counted in the metric
    idle_flushed = [False]  # a restarted worker may hold adopted windows to emit
    # Sent but not yet acknowledged by Kafka, and consumed but not yet acked to faust: both are
    # settled together at the next checkpoint.
    in_flight: list[asyncio.Future] = []
    unacked: list[faust.EventT] = []  # chunks
    unacked_records = [0]
    revoked_generation = [-1]  # the consumer generation whose partitions were last revoked
    the_stream: list[faust.StreamT] = []
    last_checkpoint = [time.monotonic()]
    # The agent and the timers interleave at every await; one of them at a time may touch the
    # engine, or a checkpoint could ack messages whose alerts are still being handed over.
    engine_lock = asyncio.Lock()

    def observe_latency(taken: float) -> Any:
        def delivered(delivery: asyncio.Future) -> None:
            if not delivery.cancelled() and delivery.exception() is None:
                metrics.latency.observe(time.monotonic() - taken)
        return delivered

    async def send(result: BatchResult, taken: float | None = None) -> None:
        """taken: when the chunk whose records produced these alerts was taken (for the
        latency histogram), or None for alerts no record produced (adopted state)."""
        if result.alerts:
            # straight through faust's producer, as save() does: an open version per alert
            # per minute of event time made Topic.send's per-message machinery (a channel
            # publish, a FutureMessage, sensors) cost the worker a third of its throughput.
            # Counted per chunk, not per version: a labelled counter's inc costs ~2 µs.
            producer_send = app.producer.send
            delivered = observe_latency(taken) if taken is not None else None
            rules: dict[str, int] = {}
            statuses: dict[str, int] = {}
            for alert in result.alerts:
                doc = alert.doc
                delivery = await producer_send(alerts_name, doc["src_ip"].encode(),
                                               alert.to_json(alert_format), None, None, None)
                if delivered is not None:
                    delivery.add_done_callback(delivered)
                in_flight.append(delivery)
                rules[doc["rule_id"]] = rules.get(doc["rule_id"], 0) + 1
                statuses[doc["status"]] = statuses.get(doc["status"], 0) + 1
            for rule, n in rules.items():
                metrics.alerts.labels(rule).inc(n)
            for status, n in statuses.items():
                metrics.versions.labels(status).inc(n)
            # behaviour alerts wait in their hosts' outbox: the second stage hears of them
            # only once a checkpoint has saved them (batch.py)
            processor.hold_behaviours(result.alerts)
        held = processor.engine.stats.updates_held
        if held != held_seen[0]:
            metrics.updates_held.inc(held - held_seen[0])
            held_seen[0] = held
        for dead in result.dead_letters:
            in_flight.append(await dead_letters.send(
                key=dead.message.key, value=dead.message.value or b"",
                headers=[("reason", dead.reason.encode()),
                         ("source_partition", str(dead.message.partition).encode()),
                         ("source_offset", str(dead.message.offset).encode())]))
            metrics.dead_letters.labels(dead.reason.split(":")[0]).inc()

    # the second stage (processors/stream/campaigns.py): its own topic, agent and table
    campaign_stage = campaigns.attach(app, settings)

    def current(events: list[faust.EventT]) -> list[faust.EventT]:
        """The events fetched in this consumer generation, once it has its partitions.  Others
        were fetched before a rebalance: faust seeks back to the committed offsets and delivers
        them again, and applying them now, ahead of the records before them, would defeat the
        offset guard.  Not `app.rebalancing`: faust resumes fetching before it clears that,
        and a chunk of the new generation dropped then would never come again."""
        generation = app.consumer_generation_id
        if generation <= revoked_generation[0]:
            return []  # partitions revoked, the new assignment not in yet
        return [e for e in events if e.message.generation_id == generation]

    async def save(partition: int, key: bytes, value: bytes | None) -> None:
        """A host's table entry to the changelog, straight through faust's producer:
        Table.send_changelog queues each message in a buffer that is drained one at a time,
        and holds back consumption while more than 100 wait, which a checkpoint's thousands of
        entries always were."""
        delivery = await app.producer.send(hosts.changelog_topic.get_topic_name(), key, value,
                                           partition, None, None)
        delivery.add_done_callback(on_saved)
        in_flight.append(delivery)

    def on_saved(delivery: asyncio.Future) -> None:
        # what Table._on_changelog_sent does: a rocksdb store notes how far its data goes
        if not delivery.cancelled() and delivery.exception() is None:
            saved = delivery.result()
            hosts.data.set_persisted_offset(saved.topic_partition, saved.offset)

    async def checkpoint() -> None:
        """Changed hosts' state to the table and its changelog; once Kafka has acknowledged
        that and every alert and dead letter sent since the last checkpoint, ack the chunks
        consumed since, so faust may commit their offsets."""
        if app.rebalancing:
            return  # partitions are moving: their new owners replay from the last checkpoint
        started = time.perf_counter()
        updates = processor.checkpoint()
        for host, (partition, value) in updates.items():
            key = host.encode()
            if value is None:
                hosts.data.pop(key, None)
            else:
                hosts.data[key] = value
            await save(partition, key, value)
        if in_flight:
            sent = list(in_flight)
            in_flight.clear()
            await acknowledged(sent)
        # the behaviour updates the entries just saved hold, to the second stage: published
        # only now, so whatever it hears of is in a saved state a replaying owner starts from
        behaviours = processor.take_behaviours()
        if behaviours and campaign_stage is not None:
            await campaign_stage.publish(behaviours)
        records = unacked_records[0]
        if unacked and the_stream:
            consumed = current(unacked)
            unacked.clear()
            unacked_records[0] = 0
            for chunk in consumed:
                await the_stream[0].ack(chunk)
        last_checkpoint[0] = time.monotonic()
        stats = processor.engine.stats
        metrics.hosts.set(stats.hosts_tracked)
        metrics.evicted.set(stats.hosts_evicted)
        for tier, n in stats.hosts_evicted_by_tier.items():
            metrics.evicted_by_tier.labels(tier).set(n)
        metrics.flood_absorbed.set(stats.flood_absorbed)
        for rule, n in stats.findings_folded.items():
            metrics.findings_folded.labels(rule).set(n)
        metrics.over_budget.set(stats.alerts_over_budget)
        for rule, n in stats.suppressed.items():
            metrics.suppressed.labels(rule).set(n)
        for sensor, offset in processor.engine.clocks.offsets_s().items():
            metrics.clock_offset.labels(sensor).set(offset)
        for gauge, counts in ((metrics.copies, stats.copies), (metrics.late, stats.late_records),
                              (metrics.same_sensor_duplicates, stats.same_sensor_duplicates)):
            for sensor, n in counts.items():
                gauge.labels(sensor).set(n)
        log.debug("checkpoint", hosts_saved=len(updates), records=records,
                  seconds=round(time.perf_counter() - started, 3))

    def checkpoint_due() -> bool:
        return (unacked_records[0] >= proc.checkpoint_max_records
                or time.monotonic() - last_checkpoint[0] >= proc.checkpoint_interval_s)

    @app.agent(records, concurrency=1)
    async def detect(stream: faust.StreamT) -> None:
        manual = stream.noack()  # acked at checkpoints
        the_stream[:] = [manual]
        async for chunk in manual.events():
            progress.took()
            taken = last_taken[0] = time.monotonic()
            async with engine_lock:
                if access.lost or not current([chunk]):
                    continue
                batch = chunk.value
                before = processor.stats.replays_skipped
                result = processor.process(batch, chunk.message.partition)
                # kept until the checkpoint acks it, so keep only what the ack needs
                chunk.value = chunk.message.value = None
                unacked.append(chunk)
                unacked_records[0] += len(batch)
                metrics.consumed.inc(len(batch))
                metrics.replays.inc(processor.stats.replays_skipped - before)
                await send(result, taken)
                if checkpoint_due():
                    await checkpoint()
            last_input[0] = time.monotonic()
            idle_flushed[0] = False

    @app.timer(interval=1.0)
    async def settle_when_quiet() -> None:
        """A checkpoint when the input slows down (the agent only checkpoints as batches
        arrive), and, once it has been quiet for processor.alert_idle_emit_s, open versions of
        the alerts with evidence not yet emitted.  Also the heartbeat /healthz reads."""
        report_progress()
        if access.watch(app) or engine_lock.locked():
            return  # the agent is at work: it checkpoints itself, and the input is not quiet
        async with engine_lock:
            if unacked and time.monotonic() - last_checkpoint[0] >= proc.checkpoint_interval_s:
                await checkpoint()
            if idle_flushed[0] or time.monotonic() - last_input[0] < proc.alert_idle_emit_s:
                return
            idle_flushed[0] = True
            await send(processor.flush_idle(), last_taken[0])
            await checkpoint()

    def report_progress() -> None:
        queued = the_stream[0].channel.queue.qsize() if the_stream else 0
        waiting = queued + app.consumer.records_waiting(kafka.records_topic)
        settling = ("rebalancing" if app.rebalancing
                    else "recovering" if not app.tables.recovery.completed.is_set() else None)
        progress.beat(waiting, settling)

    @hosts.on_recover
    async def adopt_recovered_hosts() -> None:
        async with engine_lock:
            await send(processor.adopt_saved((key.decode(), value) for key, value in
                                             list(hosts.data.items()) if value is not None))
            idle_flushed[0] = False

    @app.on_partitions_revoked.connect
    async def on_revoked(app_: faust.App, revoked: set, **kwargs: Any) -> None:
        # Their hosts' state now lives with the new owner, which replays what this worker
        # consumed since its last checkpoint: none of it may be acked from here on.
        revoked_generation[0] = app.consumer_generation_id
        gone = {tp.partition for tp in revoked if tp.topic == kafka.records_topic}
        async with engine_lock:
            processor.forget_partitions(gone)
            unacked[:] = [e for e in unacked if e.message.partition not in gone]
            unacked_records[0] = sum(e.message.count for e in unacked)
            # what this worker sent must be in the topic before the new owner sends: an alert
            # version still in the producer's buffer could land after the new owner's later
            # one for the same alert_id, and the older would read as the newest
            await acknowledged(in_flight, REVOKE_FLUSH_S)

    app.oddping_campaigns = campaign_stage  # type: ignore[attr-defined]
    app.oddping_processor = processor  # type: ignore[attr-defined]
    app.oddping_access = access  # type: ignore[attr-defined]
    return app


def quiet_worker(app: faust.App, log_level: str) -> Any:
    """faust's Worker for `app`, logging at `log_level` and no lower."""
    from faust.worker import Worker

    worker = Worker(app, loglevel=log_level.lower(), quiet=True)
    # faust's console spinner, which it keeps at WARNING and above, turns every log record into
    # a spin and so sets the root logger to DEBUG: every debug call in aiokafka and faust (one
    # per message sent) then built a record, ~2 % of the worker's CPU, for a terminal it has not
    worker.spinner = None
    return worker


def run_worker(settings: Settings) -> int:
    """Run the worker until SIGTERM/SIGINT; returns the exit status."""
    from oddping.metrics_port import serve_health
    from oddping.runtime import tune_gc

    metrics = ProcessorMetrics()
    progress = Progress(settings.processor.stall_timeout_s)
    app = build_app(settings, metrics, progress)
    tune_gc()
    health = serve_health(settings.metrics, "process", metrics.registry,
                          app.oddping_access.verdict(progress.verdict))
    worker = quiet_worker(app, settings.log_level)
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
