"""os_ttl_mismatch: the rule's own tests (its examples run in test_examples.py)."""

from __future__ import annotations

from recordkit import (
    at,
    fired,
    ODD,
    request,
    syns,
)


# -- os_ttl_mismatch --------------------------------------------------------------------------


def test_os_ttl_mismatch_fires_on_windows_data_from_a_64_stack():
    out, _ = fired([request(ODD, "10.0.0.1", at(1), ttl=60, payload_class="windows")])
    [alert] = out["os_ttl_mismatch"]
    assert alert.doc["details"]["os_initial_ttl"] == 128
    assert "Windows ping" in alert.doc["summary"]


def test_os_ttl_mismatch_uses_the_learned_hop_distance():
    # 120 is a plausible Windows TTL (8 hops), but the host is 2 hops away: it left at 122.
    records = [*syns(ODD, "52.1.1.1", at(0), ttl=126), request(ODD, "10.0.0.1", at(1), ttl=120,
                                                             payload_class="windows")]
    assert "os_ttl_mismatch" in fired(records)[0]


def test_os_ttl_mismatch_is_quiet_when_ttl_fits_the_os():
    records = [
        request(ODD, "10.0.0.1", at(1), ttl=126, payload_class="windows"),
        request("10.20.5.30", "9.9.9.9", at(1), ttl=63, payload_class="linux_iputils"),
        request("10.1.1.1", "10.0.0.1", at(1), ttl=254, payload_class="cisco_ios"),
    ]
    assert "os_ttl_mismatch" not in fired(records)[0]
