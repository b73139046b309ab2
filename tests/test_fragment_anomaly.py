"""Fragment anomalies are findings, not silent drops (issue 14): frames crafted with
samples/craft.py go through the producer's decoder and reassembly, which reports each anomaly
as a fragment_anomaly record (schema-valid, counted), and the engine's fragment_anomaly rule
raises it with evidence saying which anomaly."""

from __future__ import annotations

import pytest

from oddping.config import Settings
from processors import scan_records
from producer import decode_file
from samples import craft as c
from schemas import first_error

ATTACKER, VICTIM = "203.0.113.66", "10.9.0.5"
V6_ATTACKER, V6_VICTIM = "2001:db8:66::1", "2001:db8:9::5"
T = 1_700_000_000 * 1_000_000_000
ICMP = 1


def _frag(data: bytes, offset: int, more: bool, ip_id: int = 0x4141) -> bytes:
    return c.ipv4_packet(ATTACKER, VICTIM, ICMP, data, ttl=50, ip_id=ip_id, mf=more,
                         frag_offset=offset)


def overlap() -> list[bytes]:
    """Teardrop-style: the second fragment rewrites bytes the first one carried."""
    request = c.echo_request(ATTACKER, VICTIM, 9, 1, bytes(1000), ttl=50, ip_id=0x4141)
    first, second, third = c.fragment_ipv4(request, 400)
    liar = _frag(b"X" * 400, 200, True)  # overlaps the first (0-400) and the second (400-800)
    return [first, liar, second, third]


def oversized() -> list[bytes]:
    """Ping of death: the last fragment ends beyond 65,535 bytes."""
    request = c.echo_request(ATTACKER, VICTIM, 9, 2, bytes(1000), ttl=50, ip_id=0x4242)
    first = c.fragment_ipv4(request, 400)[0]
    return [first, _frag(bytes(400), 65_528 - 400, True, 0x4242), _frag(bytes(16), 65_528, False,
                                                                         0x4242)]


def too_many() -> list[bytes]:
    """A datagram in 76 fragments of 8 bytes (its first fragment is tiny too)."""
    request = c.echo_request(ATTACKER, VICTIM, 9, 3, bytes(600), ttl=50, ip_id=0x4343)
    return c.fragment_ipv4(request, 8)


def tiny_first() -> list[bytes]:
    """Headers split over 16-byte fragments: still reassembled, and reported."""
    request = c.echo_request(ATTACKER, VICTIM, 9, 4, bytes(40), ttl=50, ip_id=0x4444)
    return c.fragment_ipv4(request, 16)


def tiny_first_v6() -> list[bytes]:
    request = c.echo_request(V6_ATTACKER, V6_VICTIM, 9, 5, bytes(40), ttl=50)
    return c.fragment_ipv6(request, 16, ident=0x4545)


def _decode(tmp_path, packets: list[bytes]):
    path = tmp_path / "frags.pcap"
    c.write_pcap(path, [c.Frame(c.ethernet(p), T + i * 1000) for i, p in enumerate(packets)])
    return decode_file(str(path))


@pytest.mark.parametrize("make, anomaly, reassembled", [
    (overlap, "overlap", False),
    (oversized, "oversized", False),
    (too_many, "too_many_fragments", False),
    (tiny_first, "tiny_first_fragment", True),
    (tiny_first_v6, "tiny_first_fragment", True),
])
def test_each_fragment_anomaly_is_a_record_and_an_alert(tmp_path, make, anomaly, reassembled):
    result = _decode(tmp_path, make())
    assert result.account.balanced(), result.account.as_dict()
    found = [r for r in result.records if r["kind"] == "fragment_anomaly"]
    assert anomaly in {r["anomaly"] for r in found}
    assert result.account.fragment_anomalies == len(found)
    for record in result.records:
        assert first_error("icmp_record.schema.json", record) is None, record
    # the datagram: reassembled into one echo record, or dropped and counted malformed
    echoes = [r for r in result.records if r["kind"] == "icmp"]
    assert len(echoes) == (1 if reassembled else 0)
    if not reassembled:
        assert sum(result.account.malformed.values()) >= 2

    alerts, stats = scan_records(result.records, Settings())
    ours = [a.doc for a in alerts if a.rule_id == "fragment_anomaly" and a.doc["key"] == anomaly]
    assert len(ours) == 1
    doc = ours[0]
    assert doc["src_ip"] in (ATTACKER, V6_ATTACKER) and doc["dst_ips"] in ([VICTIM], [V6_VICTIM])
    assert doc["details"]["anomaly"] == anomaly
    assert all(e["note"].startswith(f"{anomaly}: ") for e in doc["evidence"])
    assert stats.records_by_event["fragment_anomaly"] == len(found)


def test_oversized_evidence_names_the_claimed_size(tmp_path):
    result = _decode(tmp_path, oversized())
    [record] = [r for r in result.records if r["kind"] == "fragment_anomaly"]
    assert record["size"] == 65_528 + 16 and record["fragments"] == 3
    alerts, _ = scan_records(result.records)
    [doc] = [a.doc for a in alerts if a.rule_id == "fragment_anomaly"]
    assert "claiming up to 65,544 bytes" in doc["summary"]
    assert "65,544 bytes" in doc["evidence"][0]["note"]


def test_ordinary_fragmentation_is_no_anomaly(tmp_path):
    request = c.echo_request(ATTACKER, VICTIM, 9, 6, bytes(3000), ttl=50, ip_id=0x4646)
    result = _decode(tmp_path, c.fragment_ipv4(request, 1480))
    assert result.account.fragment_anomalies == 0
    assert [r["kind"] for r in result.records] == ["icmp"]
