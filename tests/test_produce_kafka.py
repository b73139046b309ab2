"""`oddping produce` against the real local broker (issue 3's tests 1-5)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import struct
import sys
import time
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


def decoded_lines(*captures: Path) -> list[bytes]:
    out = oddping("decode", *map(str, captures), "--sensor-id", "sensor-a")
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
    producer = subprocess.Popen(
        ODDPING + ["produce", "--interface", "lo", "--bootstrap-servers", BOOTSTRAP, "--topic",
                   topic, "--sensor-id", "lo-sensor", "--metrics-port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    try:
        time.sleep(3)  # preflight + capture handle open
        subprocess.run(["ping", "-c", "5", "-i", "0.2", "-s", "56", "127.0.0.1"], check=True,
                       capture_output=True, timeout=30)
        time.sleep(1)
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
