"""The campaign stage in the worker: a second agent, keyed by fingerprint (ARCHITECTURE.md 10).

A repartition, as Kafka Streams does it: the host stage (app.py) publishes behaviour updates
(processors/campaign/fingerprint.update_of) to ``<app_id>-campaign-behaviours``, keyed by the
stage key (the fingerprint without its TTL, and the campaign window), so every update of one
campaign reaches one partition, hence one worker, whichever worker saw its hosts.  A second
agent in the same worker process consumes that topic with its own table (``campaign-state``,
changelog ``<app_id>-campaign-state-changelog``) and publishes campaign alerts to the alerts
topic, keyed by their alert_id.

What the host stage publishes, and when (batch.py's outbox): at each checkpoint, once the hosts'
table entries are in the changelog, one update per behaviour alert that had versions since the
last checkpoint (its latest), after a withdrawal (a ``dismissed`` update) from every stage key
an earlier version went to: an alert's key moves as its evidence grows (more destinations,
another length), as a KTable re-keyed by ``groupBy`` sends the old key a subtraction.  Each
update is an upsert of the alert's whole current entry, so sending it again changes nothing.
Publishing only what a checkpoint saved is what makes two workers and a kill come out as scan
does: before, updates went out with each alert version, and a worker that lost a host (a
rebalance, a kill) had told this stage about versions no saved state remembered; the host's new
owner replayed them along another path (open versions depend on how hosts interleave) and never
withdrew the keys it did not know of, so several hosts' first, 1-destination versions stood as
a campaign of their own (tests/test_campaigns_kafka.py).

Why the same process and not its own Deployment: the stage is small (its input is at most one
update per behaviour alert per checkpoint) and shares the worker's Kafka client, consumer group,
ACLs and health; scaling the workers scales both stages, and faust balances both topics'
partitions over them.  The topic name carries the app id, as faust's own topics do, so the
processor's PREFIXED ACL on ``<app_id>-`` already covers it.

Delivery as in the host stage: at least once.  The agent acks its events only at a checkpoint,
once the changed campaign states are in the changelog and every campaign alert sent since is
acknowledged; a worker killed between two checkpoints has its updates replayed by the next
owner, and replays change nothing (processors/campaign/stage.py: the later update of an alert
wins, the same one again is a no-op).  Nothing is lost (the host stage acks its records only
once their behaviour updates are acknowledged) and nothing is counted twice.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import faust
import orjson

from oddping.config import Settings
from oddping.logs import get_logger
from processors.alerts import Alert
from processors.campaign.stage import CampaignStage

from .sends import REVOKE_FLUSH_S, acknowledged
from .transport import CHUNKS

log = get_logger("oddping.process")

#: behaviour updates between two checkpoints of the campaign stage at most
CHECKPOINT_UPDATES = 20_000


def behaviours_topic_name(app_id: str) -> str:
    return f"{app_id}-campaign-behaviours"


class CampaignWorker:
    """The second stage's agent, table and timers on a faust app (see the module's text)."""

    def __init__(self, app: faust.App, settings: Settings) -> None:
        kafka, proc = settings.kafka, settings.processor
        self.settings = settings.campaigns
        self.app = app
        self.stage = CampaignStage(settings.campaigns)
        # delivered in chunks (app.py names it among the App's chunked_topics)
        self.topic = app.topic(behaviours_topic_name(proc.app_id), key_type=bytes,
                               value_type=None, key_serializer="raw", value_serializer=CHUNKS,
                               partitions=kafka.partitions, internal=True)
        self.topic_name = self.topic.get_topic_name()
        self.alerts_name = kafka.alerts_topic
        self.format = proc.alert_format
        self.table = app.Table("campaign-state", default=None, partitions=kafka.partitions,
                               key_type=bytes, value_type=bytes)
        self.in_flight: list[asyncio.Future] = []
        self.unacked: list[faust.EventT] = []  # chunks
        self.unacked_updates = 0
        #: updates that were not a behaviour update (counted, logged, skipped)
        self.skipped = 0
        self.partition_of: dict[str, int] = {}
        self.lock = asyncio.Lock()
        self.last_input = time.monotonic()
        self.last_checkpoint = time.monotonic()
        self.idle_emitted = True
        self.revoked_generation = -1
        self.stream: list[faust.StreamT] = []
        self.idle_s = proc.alert_idle_emit_s
        self.interval_s = proc.checkpoint_interval_s
        self.published = 0
        self._wire()

    # -- the host stage's side ----------------------------------------------------------------

    async def publish(self, behaviours: list[tuple[str, bytes]]) -> None:
        """The behaviour updates a host-stage checkpoint saved (batch.py's outbox), to the
        stage's topic keyed by stage key; returns once Kafka has acknowledged them all."""
        send = self.app.producer.send
        sent = [await send(self.topic_name, key.encode(), value, None, None, None)
                for key, value in behaviours]
        await acknowledged(sent)
        self.published += len(sent)

    # -- the second stage ---------------------------------------------------------------------

    def _wire(self) -> None:
        app = self.app

        @app.agent(self.topic, concurrency=1, name="oddping-campaigns")
        async def campaigns(stream: faust.StreamT) -> None:
            manual = stream.noack()
            self.stream[:] = [manual]
            async for chunk in manual.events():
                # one partition's share of a fetch as one event, as on the records topic
                # (transport.py): faust's per-event machinery once per chunk of updates
                async with self.lock:
                    if chunk.message.generation_id != app.consumer_generation_id or (
                            app.consumer_generation_id <= self.revoked_generation):
                        continue  # fetched before a rebalance: it comes again
                    partition = chunk.message.partition
                    versions: list[dict[str, Any]] = []
                    for record in chunk.value:
                        key = record.key.decode() if record.key is not None else ""
                        try:
                            self._ensure(key, partition)
                            versions += self.stage.add(key, orjson.loads(record.value))
                        except (orjson.JSONDecodeError, KeyError, TypeError,
                                AttributeError) as exc:
                            self.skipped += 1
                            log.warning("campaign update skipped", key=key, reason=str(exc))
                    self.unacked_updates += chunk.message.count
                    chunk.value = chunk.message.value = None  # kept for its ack only
                    self.unacked.append(chunk)
                    await self._send(versions)
                    if (self.unacked_updates >= CHECKPOINT_UPDATES
                            or time.monotonic() - self.last_checkpoint >= self.interval_s):
                        await self._checkpoint()
                self.last_input = time.monotonic()
                self.idle_emitted = False

        @app.timer(interval=1.0)
        async def campaigns_when_quiet() -> None:
            if self.lock.locked():
                return
            async with self.lock:
                quiet = time.monotonic() - self.last_input
                if not self.idle_emitted and quiet >= self.idle_s:
                    self.idle_emitted = True
                    await self._send(self.stage.emit_pending() + self.stage.close_due())
                    await self._checkpoint()
                elif self.unacked and time.monotonic() - self.last_checkpoint >= self.interval_s:
                    await self._checkpoint()

        @self.table.on_recover
        async def adopt_campaigns() -> None:
            # every campaign this worker now holds, not only those that get updates again: a
            # campaign changed just before a crash still owes its pending version.  The memory
            # store keeps partitions this worker held before a rebalance: only the assigned
            # ones are taken (each saved state names its partition)
            assigned = {tp.partition for tp in app.consumer.assignment()
                        if tp.topic == self.topic_name}
            async with self.lock:
                for key, value in list(self.table.data.items()):
                    if value is None or key.decode() in self.stage.states:
                        continue
                    state = orjson.loads(value)
                    if state.get("partition") in assigned:
                        self.partition_of[key.decode()] = state["partition"]
                        self.stage.load(key.decode(), state)
                self.idle_emitted = False

        @app.on_partitions_revoked.connect
        async def campaigns_revoked(app_: faust.App, revoked: set, **kwargs: Any) -> None:
            # everything in memory for those partitions goes: their new owner (maybe this
            # worker again) starts from the table and replays what was not acked
            self.revoked_generation = app.consumer_generation_id
            gone = {tp.partition for tp in revoked if tp.topic == self.topic_name}
            async with self.lock:
                keys = [k for k, p in self.partition_of.items() if p in gone]
                keys += [k for k in self.stage.states if k not in self.partition_of]
                self.stage.forget(keys)
                for key in keys:
                    self.partition_of.pop(key, None)
                self.unacked[:] = [e for e in self.unacked
                                   if e.message.partition not in gone]
                self.unacked_updates = sum(e.message.count for e in self.unacked)
                # campaign versions sent must land before the new owner's (app.py, on_revoked)
                await acknowledged(self.in_flight, REVOKE_FLUSH_S)

    def _ensure(self, key: str, partition: int) -> None:
        """The key's saved state into the stage, the first time this worker meets it."""
        self.partition_of[key] = partition
        if key not in self.stage.states:
            saved = self.table.data.get(key.encode())
            if saved is not None:
                self.stage.load(key, orjson.loads(saved))

    async def _send(self, versions: list[dict[str, Any]]) -> None:
        for doc in versions:  # in the worker's alert format, as host alerts are
            self.in_flight.append(await self.app.producer.send(
                self.alerts_name, doc["alert_id"].encode(), Alert(doc).to_json(self.format),
                None, None, None))

    async def _checkpoint(self) -> None:
        if self.app.rebalancing:
            return
        for key, state in self.stage.take_changes().items():
            partition = self.partition_of.get(key)
            if partition is None:
                continue
            state["partition"] = partition
            value = orjson.dumps(state)
            self.table.data[key.encode()] = value
            self.in_flight.append(await self.app.producer.send(
                self.table.changelog_topic.get_topic_name(), key.encode(), value, partition,
                None, None))
        if self.in_flight:
            sent = list(self.in_flight)
            self.in_flight.clear()
            await acknowledged(sent)
        if self.unacked and self.stream:
            events = [e for e in self.unacked
                      if e.message.generation_id == self.app.consumer_generation_id]
            self.unacked.clear()
            self.unacked_updates = 0
            for event in events:
                await self.stream[0].ack(event)
        self.last_checkpoint = time.monotonic()


def attach(app: faust.App, settings: Settings) -> CampaignWorker | None:
    """The campaign stage on the worker's app, when campaigns are enabled."""
    on = settings.campaigns.enabled and settings.campaigns.stream
    return CampaignWorker(app, settings) if on else None

