"""The campaign stage in the stream (processors/stream/campaigns.py, campaigns.stream = true)
on the real broker: 20 Footprints hosts and one lone odd host give one campaign of 20 hosts plus
the lone host's ordinary alerts, the same as `oddping scan` (the newest version of every
alert_id, campaign alerts included, says what scan's final version says), with one worker.

Then the same with two workers and with a worker killed mid-stream, in the situation that gave
an extra campaign before the host stage's outbox (processors/stream/batch.py): a worker that has
told the campaign stage about versions no checkpoint holds, and whose hosts a new owner replays
from the last checkpoint along another path.  The fleet is published so that the first worker's
event time runs ahead of most hosts (the last host's records first): their first versions are
due at once, with the first of their three destinations, under a stage key of their own.  A
replay that meets those hosts before the last one (another worker, another chunk order) goes
straight to the full key, and before the outbox nothing withdrew the first key: the 1-destination
fingerprint of several of those hosts stood as a second campaign.

And the same fleet with ordinary pings only: no campaign, no behaviour update, in the stream."""

from __future__ import annotations

import signal
import time

import orjson
import pytest
from confluent_kafka import Producer
from fleetkit import LONE_HOST, fleet, fleet_host
from kafkakit import BOOTSTRAP, end_offsets_total, require_broker
from test_stream_kafka import LiveStream, Pipeline, _describe

import schemas
from processors import scan_records
from processors.campaign.run import campaigns
from processors.lifecycle import content

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module", autouse=True)
def broker() -> str:
    return require_broker()


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return fleet(20)


@pytest.fixture(scope="module")
def scanned(records: list[dict]) -> dict[str, dict]:
    alerts, _ = scan_records(records)
    found = campaigns(alerts)
    assert [c.doc["host_count"] for c in found] == [20]
    return {a.alert_id: content(a.doc) for a in [*alerts, *found]}


def _values(records: list[dict]) -> list[bytes]:
    return [orjson.dumps(r) for r in records]


def _check(got: dict[str, dict], scanned: dict[str, dict]) -> None:
    assert got == scanned, _describe(got, scanned)
    found = [doc for doc in got.values() if doc.get("kind") == "campaign"]
    assert len(found) == 1 and found[0]["host_count"] == 20
    lone = [doc for doc in got.values() if doc.get("src_ip") == LONE_HOST]
    assert lone and all(doc["campaign_id"] != found[0]["alert_id"] for doc in lone)


def test_one_worker_makes_the_campaign_scan_makes(records: list[dict], scanned: dict) -> None:
    pipeline = Pipeline(partitions=4)
    pipeline.env["ODDPING_CAMPAIGNS__STREAM"] = "true"
    stream = LiveStream(pipeline.records, _values(records), slices=1, pause_s=0)
    try:
        stream.release.set()  # all at once
        stream.start()
        stream.join(120)
        assert stream.error is None, stream.error
        pipeline.start_worker()
        got = pipeline.wait_for(scanned)
        documents = pipeline.alert_documents()
    finally:
        stream.release.set()
        pipeline.stop()
    _check(got, scanned)
    for doc in documents:
        kind = schemas.CAMPAIGN_SCHEMA if doc.get("kind") == "campaign" else schemas.ALERT_SCHEMA
        assert schemas.first_error(kind, doc) is None
    # the campaign's versions: 1, 2, ... as hosts joined, then pending ones on quiet
    versions = [d["version"] for d in documents if d.get("kind") == "campaign"
                and d["alert_id"] in got]
    assert versions == list(range(1, len(versions) + 1)) and len(versions) >= 2


#: capture time (from the fleet's first record) before which the first slice ends
FIRST_SLICE_S = 20.0
#: the stream settings of the tests below: a checkpoint only when the input goes quiet (5 s),
#: so what the first worker does with the second and third slices is in no checkpoint
SETTINGS = {"ODDPING_CAMPAIGNS__STREAM": "true",
            "ODDPING_PROCESSOR__CHECKPOINT_INTERVAL_S": "60",
            "ODDPING_PROCESSOR__ALERT_IDLE_EMIT_S": "5"}


def _slices(records: list[dict]) -> tuple[list[dict], list[dict], list[dict]]:
    """The fleet's first 20 s; then the last fleet host's later records (event time jumps to the
    end); then everyone else's later records."""
    start = records[0]["ts_ns"]
    cut = start + int(FIRST_SLICE_S * 1e9)
    last = fleet_host(19)
    first = [r for r in records if r["ts_ns"] < cut]
    ahead = [r for r in records if r["ts_ns"] >= cut and r["initiator_ip"] == last]
    rest = [r for r in records if r["ts_ns"] >= cut and r["initiator_ip"] != last]
    assert first and ahead and rest
    return first, ahead, rest


def _produce(topic: str, records: list[dict]) -> None:
    """As a sensor publishes them (tests/test_stream_kafka.LiveStream): keyed by initiator."""
    producer = Producer({"bootstrap.servers": BOOTSTRAP, "enable.idempotence": True,
                         "partitioner": "murmur2_random", "linger.ms": 5})
    for record in records:
        producer.produce(topic, orjson.dumps(record), record["initiator_ip"].encode(),
                         timestamp=record["ts_ns"] // 1_000_000)
    assert producer.flush(60) == 0


def _until(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _run_ahead(pipeline: Pipeline, records: list[dict], then=None) -> None:
    """First slice, checkpointed; then (after calling `then`) the second and third, whose open
    versions the worker has sent (alerts on the alerts topic) but not checkpointed."""
    first, ahead, rest = _slices(records)
    _produce(pipeline.records, first)
    _until(lambda: pipeline.committed() >= len(first), 120, "no checkpoint after the first slice")
    if then is not None:
        then()
    sent = end_offsets_total(pipeline.alerts, pipeline.partitions)
    _produce(pipeline.records, ahead)
    time.sleep(0.3)
    _produce(pipeline.records, rest)
    # the open versions of the third slice's hosts are out (a dozen hosts, 3 rules each)
    _until(lambda: end_offsets_total(pipeline.alerts, pipeline.partitions) >= sent + 30, 30,
           "no alerts from the third slice")
    assert pipeline.committed() == len(first), "a checkpoint came too soon for this test"


def test_worker_killed_midstream_makes_the_campaign_scan_makes(records: list[dict],
                                                              scanned: dict) -> None:
    pipeline = Pipeline(partitions=4)
    pipeline.env |= SETTINGS
    try:
        first = pipeline.start_worker()
        _run_ahead(pipeline, records)
        first.send_signal(signal.SIGKILL)
        first.wait(30)
        pipeline.start_worker()
        got = pipeline.wait_for(scanned)
    finally:
        pipeline.stop()
    _check(got, scanned)


def test_two_workers_make_the_campaign_scan_makes(records: list[dict], scanned: dict) -> None:
    pipeline = Pipeline(partitions=4)
    pipeline.env |= SETTINGS
    try:
        pipeline.start_worker()
        # the second worker joins (and takes half the partitions) while the first has work no
        # checkpoint holds: started with the second slice, it is in the group about 3 s later,
        # before the first worker's input has been quiet for 5 s
        _run_ahead(pipeline, records, pipeline.start_worker)
        got = pipeline.wait_for(scanned)
    finally:
        pipeline.stop()
    _check(got, scanned)



def test_ordinary_pings_of_the_same_fleet_give_nothing_in_the_stream() -> None:
    quiet = fleet(20, footprints=False, lone=False)
    alerts, _ = scan_records(quiet)
    assert alerts == [] and campaigns(alerts) == []
    pipeline = Pipeline(partitions=4)  # campaigns.stream as by default: on
    try:
        _produce(pipeline.records, quiet)
        pipeline.start_worker()
        _until(lambda: pipeline.committed() >= len(quiet), 120, "the worker did not take them")
        time.sleep(6)  # quiet for longer than processor.alert_idle_emit_s: pending would be out
        documents = pipeline.alert_documents()
        behaviours = end_offsets_total(f"{pipeline.app_id}-campaign-behaviours",
                                       pipeline.partitions)
    finally:
        pipeline.stop()
    assert documents == [] and behaviours == 0
