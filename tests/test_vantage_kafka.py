"""Two sensors, one records topic, the real local broker (issue 13): the campus captured at the
access layer and at the internet edge (samples/vantage.py), published by two producers with
their own --sensor-id, processed by one worker and by two, with the sensors publishing together
and with the edge a whole capture late.  The benign hosts (a Linux host, a NAT with Linux and
Windows behind it, internal pings only the access layer sees) raise nothing; each Footprints
host raises each of the seed's alerts once, counting each packet once and naming both sensors:
what `oddping scan access=... edge=...` gives."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from pathlib import Path

import orjson
import pytest
from kafkakit import require_broker
from test_stream_kafka import ODDPING, Pipeline, _free_port

pytestmark = pytest.mark.kafka

ODD_HOSTS = {"10.20.0.15", "10.20.0.16", "10.20.0.17"}
SEED_RULES = {"multi_destination_sequence", "tiny_payload", "unknown_payload", "ttl_deviation"}
SENSORS = ["access", "edge"]


@pytest.fixture(scope="module", autouse=True)
def broker() -> str:
    return require_broker()


@pytest.fixture(scope="module")
def captures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    from samples.vantage import write_two_vantage

    access, edge = write_two_vantage(tmp_path_factory.mktemp("vantage"))
    return {"access": access, "edge": edge}


def _summary(doc: dict) -> tuple:
    return doc["rule_id"], doc["src_ip"], doc["alert_id"], doc["packet_count"], tuple(
        sorted(doc["sensor_ids"]))


def _host_alerts(jsonl: bytes) -> list[dict]:
    """scan's host alerts: what several sensors change.  Campaign alerts (the three Footprints
    hosts make one, in scan and in the worker) are compared with scan's in
    tests/test_campaigns_kafka.py and test_stream_kafka.py."""
    docs = (orjson.loads(line) for line in jsonl.splitlines())
    return [doc for doc in docs if doc.get("kind") != "campaign"]


@pytest.fixture(scope="module")
def scanned(captures: dict[str, str]) -> set[tuple]:
    out = subprocess.run([ODDPING, "scan", *(f"{s}={p}" for s, p in captures.items()),
                          "--format", "jsonl"], capture_output=True, check=True, timeout=300)
    found = {_summary(doc) for doc in _host_alerts(out.stdout)}
    # the scan itself is right: the seed's alerts on the odd hosts only, both sensors named
    assert {(rule, host) for rule, host, *_ in found} == {
        (rule, host) for rule in SEED_RULES for host in ODD_HOSTS}
    assert all(sensors == tuple(SENSORS) for *_, sensors in found)
    alone = subprocess.run([ODDPING, "scan", f"access={captures['access']}", "--format",
                            "jsonl"], capture_output=True, check=True, timeout=300)
    counted_once = {(d["alert_id"], d["packet_count"]) for d in _host_alerts(alone.stdout)}
    assert {(alert_id, count) for _, _, alert_id, count, _ in found} == counted_once
    return found


def _publish(pipeline: Pipeline, capture: str, sensor: str) -> subprocess.Popen:
    return subprocess.Popen([ODDPING, "produce", "--pcap", capture, "--sensor-id", sensor],
                            env=pipeline.env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def _finished(producer: subprocess.Popen) -> None:
    _, err = producer.communicate(timeout=300)
    assert producer.returncode == 0, err.decode()[-500:]


def _latest(pipeline: Pipeline) -> dict[str, dict]:
    latest: dict[str, dict] = {}
    for doc in pipeline.alert_documents():  # per alert_id, in the order it was published
        if doc.get("kind") != "campaign":
            latest[doc["alert_id"]] = doc
    return latest


def _wait_for(pipeline: Pipeline, expected: set, timeout_s: float = 240) -> set:
    deadline = time.monotonic() + timeout_s
    got: set = set()
    while time.monotonic() < deadline:
        got = {_summary(doc) for doc in _latest(pipeline).values()}
        if got == expected:
            time.sleep(3)  # anything extra would show up now
            return {_summary(doc) for doc in _latest(pipeline).values()}
        if any(w.poll() is not None for w in pipeline.workers):
            break
        time.sleep(2)
    return got


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("arrival", ["together", "edge_late"])
def test_two_sensors_on_one_topic_give_the_scans_alerts(captures: dict[str, str],
                                                          scanned: set, arrival: str,
                                                          workers: int) -> None:
    pipeline = Pipeline(partitions=4)
    pipeline.env["ODDPING_PROCESSOR__SEVERAL_SENSORS"] = "true"  # as a campus deployment sets it
    port = _free_port()
    try:
        if arrival == "together":
            producers = [_publish(pipeline, captures[s], s) for s in SENSORS]
            for producer in producers:
                _finished(producer)
            pipeline.start_worker(metrics_port=port)
            for _ in range(workers - 1):
                pipeline.start_worker()
        else:  # the edge catches up after an outage: its whole capture after the access's
            _finished(_publish(pipeline, captures["access"], "access"))
            for _ in range(workers):
                pipeline.start_worker()
            first = {(rule, host, alert_id, count, ("access",))
                     for rule, host, alert_id, count, _ in scanned}
            assert _wait_for(pipeline, first) == first, "the access layer's alerts first"
            _finished(_publish(pipeline, captures["edge"], "edge"))
        got = _wait_for(pipeline, scanned)
        offsets = _clock_offsets(port) if arrival == "together" and workers == 1 else None
    finally:
        pipeline.stop()
    assert got == scanned, f"missing {sorted(scanned - got)[:4]} extra {sorted(got - scanned)[:4]}"
    if offsets is not None:  # the crafted sensors' clocks agree: 2 ms of path either way
        assert set(offsets) == set(SENSORS) and all(abs(v) <= 0.003 for v in offsets.values())


def _clock_offsets(port: int) -> dict[str, float]:
    """The worker's oddping_sensor_clock_offset_seconds gauges, by sensor."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        lines = response.read().decode().splitlines()
    prefix = 'oddping_sensor_clock_offset_seconds{sensor="'
    return {line[len(prefix):].split('"')[0]: float(line.split()[-1])
            for line in lines if line.startswith(prefix)}


# -- a reply-only sensor publishing first --------------------------------------------------------

CHANNEL_HOST, CHANNEL_PEER = "10.20.0.50", "198.51.100.66"


@pytest.fixture(scope="module")
def split_exchange(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An icmpsh-like exchange seen in halves: the access layer captures the host's requests,
    an upstream tap only the replies to them (asymmetric routing), whose data differs from the
    requests'.  Both see the host's TCP SYNs (its outbound traffic), and the 12 replies are
    more than unsolicited_reply's 10: replies judged before their requests came would make
    its alert."""
    from samples import craft as c
    from samples.generate import T0
    from samples.vantage import ACCESS_MAC, CORE_MAC

    requests, replies = [], []
    for k in range(2):
        syn = c.tcp_syn(CHANNEL_HOST, "203.0.113.1", 50000 + k, ttl=126)
        frame = c.Frame(c.ethernet(syn, src=ACCESS_MAC, dst=CORE_MAC), T0 - 1_000_000_000 + k)
        requests.append(frame)
        replies.append(frame)
    for n in range(12):
        t = T0 + n * 1_000_000_000
        req = c.echo_request(CHANNEL_HOST, CHANNEL_PEER, 77, n + 1,
                             b"C:\\Users\\bob> dir output %d" % n, ttl=126, ip_id=300 + n)
        requests.append(c.Frame(c.ethernet(req, src=ACCESS_MAC, dst=CORE_MAC), t))
        back = c.reply_to(req, ttl=52, ip_id=700 + n, payload=b"whoami /all; net user %d" % n)
        replies.append(c.Frame(c.ethernet(back, src=CORE_MAC, dst=ACCESS_MAC), t + 30_000_000))
    directory = tmp_path_factory.mktemp("split")
    paths = {"access": directory / "requests.pcap", "upstream": directory / "replies.pcap"}
    c.write_pcap(paths["access"], requests)
    c.write_pcap(paths["upstream"], replies)
    return {sensor: str(path) for sensor, path in paths.items()}


def test_a_reply_only_sensor_publishing_first_pairs_with_the_requests_later(
        split_exchange: dict[str, str]) -> None:
    """The upstream tap publishes its replies before the access layer publishes the requests
    they answer: the worker pairs them when the requests come (reply_mismatch, naming the
    upstream sensor, once per reply) and no unsolicited_reply alert is left behind, as
    `oddping scan access=... upstream=...` gives."""
    out = subprocess.run([ODDPING, "scan", *(f"{s}={p}" for s, p in split_exchange.items()),
                          "--format", "jsonl"], capture_output=True, check=True, timeout=300)
    expected = {_summary(orjson.loads(line)) for line in out.stdout.splitlines()}
    assert ("reply_mismatch", CHANNEL_HOST) in {(rule, host) for rule, host, *_ in expected}
    assert "unsolicited_reply" not in {rule for rule, *_ in expected}
    pipeline = Pipeline(partitions=2)
    pipeline.env["ODDPING_PROCESSOR__SEVERAL_SENSORS"] = "true"
    try:
        _finished(_publish(pipeline, split_exchange["upstream"], "upstream"))
        pipeline.start_worker()
        time.sleep(5)  # the replies are processed first, and find no request
        _finished(_publish(pipeline, split_exchange["access"], "access"))
        got = _wait_for(pipeline, expected, timeout_s=120)
        dead = [w.stderr.read().decode()[-1500:] for w in pipeline.workers if w.poll() is not None]
    finally:
        pipeline.stop()
    assert not dead, dead
    assert got == expected, f"missing {sorted(expected - got)[:4]} extra {sorted(got - expected)[:4]}"
