"""unknown_payload: the rule's own tests (its examples run in test_examples.py)."""

from __future__ import annotations

import pytest
from recordkit import (
    at,
    fired,
    ODD,
    request,
    syns,
    traceroute,
)


# -- unknown_payload --------------------------------------------------------------------------


@pytest.mark.parametrize("payload_class", ["unknown", "zeros", "printable_text"])
def test_unknown_payload_fires_on_unattributed_data(payload_class):
    out, _ = fired([request(ODD, "198.51.100.1", at(1), ttl=64, payload_class=payload_class)])
    assert [a.rule_id for a in out["unknown_payload"]] == ["unknown_payload"]


def test_unknown_payload_is_quiet_for_known_senders():
    records = []
    for n, payload_class in enumerate(["windows", "linux_iputils", "fping", "empty", "ptunnel"]):
        records.append(request(f"10.2.0.{n + 1}", "198.51.100.1", at(n), ttl=64,
                               payload_class=payload_class))
    out, _ = fired(records)
    assert "unknown_payload" not in out


def test_trap_windows_tracert_zero_payload_and_low_ttls_are_dismissed():
    # tracert: 64 zero bytes ("zeros"), TTL stepping up from 1, Time Exceeded back.  The host's
    # SYNs teach 2 hops, so the first probes imply initial TTLs of 3, 4 ...: the traceroute
    # explains them, and nothing fires.
    records = syns(ODD, "52.1.1.1", at(0), ttl=126)
    records += traceroute(ODD, "198.51.100.9", 1, payload_class="zeros", data=bytes(64))
    out, stats = fired(records)
    assert "unknown_payload" not in out and "ttl_deviation" not in out
    assert out == {}
    assert stats.dismissed["ttl_deviation:traceroute"] == 1
    assert stats.dismissed["unknown_payload:traceroute"] == 1
