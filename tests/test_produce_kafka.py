"""`oddping produce` against the real local broker (issue 3's tests 1-5)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import struct
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import orjson
import pytest
from kafkakit import BOOTSTRAP, consume_all, kafka_sh, new_topic, require_broker

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parent.parent
ODDPING = [str(Path(sys.executable).with_name("oddping"))]


@pytest.fixture(scope="module", autouse=True)
def broker() -> str:
    return require_broker()


def oddping(*args: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(ODDPING + list(args), capture_output=True, timeout=timeout, cwd=ROOT,
                          **kw)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def decoded_lines(*captures: Path, sensor_id: str = "sensor-a") -> list[bytes]:
    out = oddping("decode", *map(str, captures), "--sensor-id", sensor_id)
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


def write_echo_capture(path: Path, pairs: int, first_seq: int = 0, host: int = 1,
                       start_ts: float = 1_700_000_000.0, spacing_s: float = 0.001) -> None:
    """A classic pcap of `pairs` echo requests (Linux-style payload) and their replies."""
    def checksum(data: bytes) -> int:
        total = sum(struct.unpack(f"!{len(data) // 2}H", data))
        total = (total >> 16) + (total & 0xFFFF)
        return ~(total + (total >> 16)) & 0xFFFF

    def frame(src: bytes, dst: bytes, icmp_type: int, seq: int, ttl: int) -> bytes:
        payload = struct.pack("!QQ", seq, 0) + bytes(range(0x10, 0x38))
        icmp = struct.pack("!BBHHH", icmp_type, 0, 0, 0x4000 + host, seq & 0xFFFF) + payload
        icmp = icmp[:2] + struct.pack("!H", checksum(icmp)) + icmp[4:]
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), seq & 0xFFFF, 0x4000, ttl, 1,
                         0, src, dst)
        ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
        return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + icmp

    client = socket.inet_aton(f"10.77.{host // 250}.{host % 250 + 1}")
    servers = [socket.inet_aton(f"192.0.2.{i}") for i in range(1, 9)]
    with path.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        ts = start_ts
        for i in range(pairs):
            seq = first_seq + i
            server = servers[i % len(servers)]
            for data in (frame(client, server, 8, seq, 64), frame(server, client, 0, seq, 57)):
                sec, usec = int(ts), int(round((ts - int(ts)) * 1e6))
                f.write(struct.pack("<IIII", sec, usec, len(data), len(data)) + data)
                ts += spacing_s


# -- 1. a capture lands on the topic exactly as decode prints it ------------------------------

def test_publish_delivers_exactly_the_decoded_records(tmp_path: Path) -> None:
    captures = [ROOT / "samples" / "footprints.pcap", ROOT / "samples" / "encapsulations.pcapng"]
    expected = decoded_lines(*captures)
    topic = new_topic(partitions=4)
    args = ["produce", "--bootstrap-servers", BOOTSTRAP, "--topic", topic, "--sensor-id",
            "sensor-a", "--metrics-port", "0"]
    for capture in captures:
        args += ["--pcap", str(capture)]
    result = oddping(*args)
    assert result.returncode == 0, result.stderr.decode()
    messages = consume_all(topic, expected=len(expected))
    assert Counter(m.value() for m in messages) == Counter(expected)  # same count, same bytes

    partition_of_exchange = {}
    for msg in messages:
        record = orjson.loads(msg.value())
        assert msg.key() == record["initiator_ip"].encode()
        assert msg.timestamp()[1] == record["ts_ns"] // 1_000_000  # capture time, not now
        headers = dict(msg.headers())
        assert headers["schema_version"] == b"1" and headers["sensor_id"] == b"sensor-a"
        if record["kind"] == "icmp" and record["icmp_id"] is not None:
            exchange = (record["initiator_ip"], record["icmp_id"], record["icmp_seq"])
            partition_of_exchange.setdefault(exchange, set()).add(msg.partition())
    replies_paired = [p for p in partition_of_exchange.values()]
    assert replies_paired and all(len(p) == 1 for p in replies_paired)
    assert len({p for parts in replies_paired for p in parts}) > 1  # keys really spread


# -- 5. bad addresses and unreachable brokers fail fast, in one line ---------------------------

@pytest.mark.parametrize("bootstrap", ["no-such-broker.invalid:9092", "127.0.0.1:1"])
def test_unreachable_broker_is_one_line_and_nonzero(bootstrap: str) -> None:
    started = time.monotonic()
    result = oddping("produce", "--pcap", str(ROOT / "samples" / "footprints.pcap"),
                     "--bootstrap-servers", bootstrap, "--metrics-port", "0", timeout=60)
    elapsed = time.monotonic() - started
    stderr = result.stderr.decode()
    assert result.returncode != 0
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("oddping: cannot use Kafka at " + bootstrap)
    assert elapsed < 30


# -- 3. live capture on loopback with real ping traffic -----------------------------------------

def test_live_capture_on_loopback_publishes_real_pings() -> None:
    if os.geteuid() != 0:
        pytest.fail("live capture needs root or CAP_NET_RAW; run the tests as CI does (root)")
    topic = new_topic(partitions=2)
    metrics_port = _free_port()
    producer = subprocess.Popen(
        ODDPING + ["produce", "--interface", "lo", "--bootstrap-servers", BOOTSTRAP, "--topic",
                   topic, "--sensor-id", "lo-sensor", "--metrics-port", str(metrics_port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    try:
        time.sleep(3)  # preflight + capture handle open
        subprocess.run(["ping", "-c", "5", "-i", "0.2", "-s", "56", "127.0.0.1"], check=True,
                       capture_output=True, timeout=30)
        time.sleep(1)
        base = f"http://127.0.0.1:{metrics_port}"
        assert urllib.request.urlopen(base + "/healthz", timeout=5).status == 200
        metrics = urllib.request.urlopen(base + "/metrics", timeout=5).read().decode()
        published = [line for line in metrics.splitlines()
                     if line.startswith('oddping_records_published_total{kind="icmp"}')]
        assert published and float(published[0].split()[-1]) >= 5  # the rest may wait in the ring
        assert "oddping_packets_read_total" in metrics
        assert 'oddping_libpcap_dropped_packets{where="kernel"}' in metrics
    finally:
        producer.send_signal(signal.SIGTERM)
        _, stderr = producer.communicate(timeout=60)
    assert producer.returncode == 0, stderr.decode()
    assert b"Traceback" not in stderr
    records = [orjson.loads(m.value()) for m in consume_all(topic, expected=10)]
    echoes = [r for r in records if r["kind"] == "icmp" and r["src_ip"] == "127.0.0.1"]
    requests = [r for r in echoes if r["icmp_type"] == 8]
    replies = [r for r in echoes if r["icmp_type"] == 0]
    assert len(requests) >= 5 and len(replies) >= 5
    assert {r["payload_class"] for r in requests} == {"linux_iputils"}
    assert all(r["sensor_id"] == "lo-sensor" and r["link"] in ("ethernet", "loopback")
               for r in echoes)
    seqs = sorted(r["icmp_seq"] for r in requests)
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # ping's rising sequence
    assert b"delivered" in stderr  # the summary line on exit


# -- 2. the broker goes away mid-publish and comes back: every record once, exit 0 ------------

def test_broker_restart_mid_publish_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    capture = tmp_path / "paced.pcap"
    write_echo_capture(capture, pairs=6000, spacing_s=0.002)  # 12,000 records over 24 s
    expected = decoded_lines(capture)
    topic = new_topic(partitions=3)
    producer = subprocess.Popen(
        ODDPING + ["produce", "--pcap", str(capture), "--realtime", "--bootstrap-servers",
                   BOOTSTRAP, "--topic", topic, "--sensor-id", "sensor-a", "--metrics-port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    try:
        time.sleep(6)
        kafka_sh("stop")  # the broker process ends; its data stays
        time.sleep(6)
        assert producer.poll() is None, "the producer must ride out the outage"
        kafka_sh("start")
        _, stderr = producer.communicate(timeout=240)
    finally:
        if producer.poll() is None:
            producer.kill()
        kafka_sh("start")  # idempotent: whatever happened, leave a broker for the next tests
    assert producer.returncode == 0, stderr.decode()[-2000:]
    messages = consume_all(topic, expected=len(expected), timeout_s=120)
    assert Counter(m.value() for m in messages) == Counter(expected)


# -- 4. watch mode: killed and restarted, every file's records arrive exactly once -------------

def _watch_cmd(directory: Path, topic: str) -> list[str]:
    return ODDPING + ["produce", "--watch", str(directory), "--bootstrap-servers", BOOTSTRAP,
                      "--topic", topic, "--sensor-id", "watch-sensor", "--metrics-port", "0"]


def test_watch_mode_survives_kill_without_skipping_or_repeating(tmp_path: Path) -> None:
    watched = tmp_path / "rotating"
    watched.mkdir()
    env = os.environ | {"ODDPING_CAPTURE__WATCH_SETTLE_SECONDS": "1"}
    topic = new_topic(partitions=4)
    files = []

    def rotate(name: str, pairs: int, host: int) -> None:
        staging = tmp_path / name
        write_echo_capture(staging, pairs=pairs, host=host, start_ts=1_700_000_000 + host * 1000)
        staging.rename(watched / name)  # appears whole, like a finished rotation
        files.append(watched / name)
        time.sleep(0.05)

    rotate("cap-0001.pcap", 60_000, host=1)  # 120,000 records: several transactions
    rotate("cap-0002.pcap", 500, host=2)
    first = subprocess.Popen(_watch_cmd(watched, topic), env=env, cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # wait until the first chunk of the big file is committed, then kill hard, mid-file
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if consume_all(topic + ".progress", timeout_s=2, idle_s=0.5, read_committed=True):
                break
            time.sleep(0.2)
        else:
            pytest.fail("no progress marker committed within 120 s: " + first.stderr.read1().decode())
    finally:
        first.kill()
        first.wait(30)
    rotate("cap-0003.pcap", 800, host=3)
    second = subprocess.Popen(_watch_cmd(watched, topic), env=env, cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        expected = decoded_lines(*files, sensor_id="watch-sensor")
        messages = consume_all(topic, expected=len(expected), timeout_s=240,
                               read_committed=True, idle_s=5)
    finally:
        second.send_signal(signal.SIGTERM)
        _, stderr = second.communicate(timeout=120)
    assert second.returncode == 0, stderr.decode()[-2000:]
    got = Counter(m.value() for m in messages)
    assert sum(got.values()) == len(expected)
    assert got == Counter(expected)


# -- 5b. SASL: the right password publishes, a wrong one is refused in one line ----------------

SASL_BOOTSTRAP = "127.0.0.1:{}".format(int(BOOTSTRAP.rsplit(":", 1)[1]) + 2)


def _sasl_env(password: str) -> dict[str, str]:
    return os.environ | {
        "ODDPING_KAFKA__SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "ODDPING_KAFKA__SASL_MECHANISM": "PLAIN",
        "ODDPING_KAFKA__SASL_USERNAME": "oddping",
        "ODDPING_KAFKA__SASL_PASSWORD": password,
    }


def test_sasl_plain_with_right_credentials_publishes() -> None:
    topic = new_topic(partitions=2)
    expected = decoded_lines(ROOT / "samples" / "footprints.pcap")
    result = oddping("produce", "--pcap", str(ROOT / "samples" / "footprints.pcap"),
                     "--bootstrap-servers", SASL_BOOTSTRAP, "--topic", topic, "--sensor-id",
                     "sensor-a", "--metrics-port", "0", env=_sasl_env("oddping-secret"))
    assert result.returncode == 0, result.stderr.decode()
    assert Counter(m.value() for m in consume_all(topic, expected=len(expected))) == Counter(expected)


def test_bad_credentials_are_refused_in_one_line() -> None:
    started = time.monotonic()
    result = oddping("produce", "--pcap", str(ROOT / "samples" / "footprints.pcap"),
                     "--bootstrap-servers", SASL_BOOTSTRAP, "--metrics-port", "0",
                     env=_sasl_env("wrong-password"), timeout=60)
    stderr = result.stderr.decode()
    assert result.returncode != 0 and "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Authentication failed" in lines[0] or "authentication" in lines[0].lower()
    assert time.monotonic() - started < 30
