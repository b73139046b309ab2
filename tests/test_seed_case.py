"""The seed's hunt, end to end on the sample capture: decode samples/footprints.pcap with the
producer and run the engine over its records (what ``oddping scan`` does)."""

from __future__ import annotations

from pathlib import Path

import pytest

import schemas
from processors import scan_records

CAPTURE = Path(__file__).resolve().parent.parent / "samples" / "footprints.pcap"
ODD_HOSTS = ("10.20.0.15", "10.20.0.16", "10.20.0.17")
LINUX_HOST = "10.20.5.30"
SEED_RULES = {"multi_destination_sequence", "tiny_payload", "unknown_payload", "ttl_deviation"}


@pytest.fixture(scope="module")
def scanned():
    import producer

    assert CAPTURE.exists(), "samples/footprints.pcap is missing (make samples)"
    result = producer.decode_file(str(CAPTURE))
    assert result.error is None
    return scan_records(result.records)


def test_each_odd_host_raises_the_four_seed_rules(scanned):
    alerts, _ = scanned
    for host in ODD_HOSTS:
        assert {a.rule_id for a in alerts if a.src_ip == host} == SEED_RULES, host


def test_ttl_deviation_says_what_the_analyst_said(scanned):
    alerts, _ = scanned
    for alert in alerts:
        if alert.rule_id == "ttl_deviation":
            assert "with TTL 28 (initial 30 at 2 hops; its other traffic starts at 128)" in alert.doc["summary"]
            assert alert.doc["icmp_id"] == 1 and len(alert.doc["dst_ips"]) == 3


def test_ordinary_windows_and_linux_pings_raise_nothing(scanned):
    alerts, stats = scanned
    assert not [a for a in alerts if a.src_ip == LINUX_HOST]
    assert {a.src_ip for a in alerts} == set(ODD_HOSTS)
    for alert in alerts:  # ping.exe shares the odd hosts' sequence counter: never evidence
        assert "windows" not in alert.doc["payload_classes"]
        assert "8.8.8.8" not in alert.doc["dst_ips"]
        assert alert.doc["ttl_min"] == alert.doc["ttl_max"] == 28
    assert stats.invalid_records == 0


def test_seed_alerts_are_valid(scanned):
    alerts, _ = scanned
    for alert in alerts:
        assert schemas.first_error(schemas.ALERT_SCHEMA, alert.doc) is None
