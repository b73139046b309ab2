"""multi_destination_sequence: the rule's own tests (its examples run in test_examples.py)."""

from __future__ import annotations

import pytest
from recordkit import (
    at,
    fired,
    footprints_burst,
    FOOTPRINTS_DSTS,
    ODD,
    reply_to,
    request,
    syns,
)


# -- multi_destination_sequence -------------------------------------------------------------


def test_multi_destination_sequence_fires_on_the_seed_shape():
    out, _ = fired(footprints_burst(ODD, 0, 40))
    [alert] = out["multi_destination_sequence"]
    doc = alert.doc
    assert doc["icmp_id"] == 1 and doc["key"] == "id=0x0001"
    assert (doc["icmp_seq_min"], doc["icmp_seq_max"]) == (40, 48)
    assert sorted(doc["dst_ips"]) == sorted(FOOTPRINTS_DSTS)
    assert "identifier 0x0001 with sequence 40-48 spread over 3 destinations" in doc["summary"]


def test_multi_destination_sequence_fires_on_windows_data_with_an_odd_ttl():
    # Ordinary payload, but TTL 28 from a host whose SYNs say 128 at 2 hops: not ping.exe.
    records = syns(ODD, "52.1.1.1", at(0), ttl=126)
    seq = 10
    for r in range(3):
        for i, dst in enumerate(FOOTPRINTS_DSTS):
            records.append(request(ODD, dst, at(1 + r + i * 0.05), icmp_id=1, seq=seq, ttl=28,
                                   payload_class="windows"))
            seq += 1
    out, _ = fired(records)
    assert "multi_destination_sequence" in out


def test_trap_windows_shared_counter_with_concurrent_pings_is_not_a_finding():
    # Three ping.exe processes at once: identifier 1, one system-wide sequence, interleaved.
    records = syns("10.20.0.16", "52.1.1.1", at(0), ttl=126)
    seq = 1
    for n in range(8):
        for i, dst in enumerate(("10.0.0.1", "10.0.0.2", "10.0.0.3")):
            req = request("10.20.0.16", dst, at(1 + n + i * 0.3), icmp_id=1, seq=seq, ttl=126,
                          payload_class="windows")
            records += [req, reply_to(req)]
            seq += 1
    out, _ = fired(records)
    assert out == {}


def test_trap_fping_round_robin_is_not_a_finding():
    # fping: one id, ONE sequence counter across all targets, 10 ms apart, 56 zero bytes.
    records = []
    seq = 0
    for rnd in range(3):
        for n in range(10):
            req = request("10.5.5.5", f"10.6.0.{n + 1}", at(rnd + n * 0.01), icmp_id=0x3039,
                          seq=seq, ttl=64, payload_class="fping")
            records += [req, reply_to(req)]
            seq += 1
    out, _ = fired(records)
    assert "multi_destination_sequence" not in out
    assert out == {}


@pytest.mark.parametrize("payload_class", ["windows", "zeros"])
def test_pinging_hosts_one_after_another_does_not_fire(payload_class):
    # ping A; ping B; ping C: runs of consecutive sequence numbers per destination.
    records = []
    seq = 1
    for dst in ("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"):
        for n in range(4):
            records.append(request(ODD, dst, at(seq * 0.5), icmp_id=1, seq=seq, ttl=126,
                                   payload_class=payload_class))
            seq += 1
    out, _ = fired(records)
    assert "multi_destination_sequence" not in out


def test_multi_destination_sequence_needs_the_run_within_seconds():
    records = [
        request(ODD, dst, at(i * 30.0), icmp_id=1, seq=40 + i, ttl=28, payload_class="zeros")
        for i, dst in enumerate(FOOTPRINTS_DSTS * 2)
    ]
    out, _ = fired(records)
    assert "multi_destination_sequence" not in out
    out, _ = fired(records, {"multi_destination_sequence": {"within_s": 200}})
    assert "multi_destination_sequence" in out
