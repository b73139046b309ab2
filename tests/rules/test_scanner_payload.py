"""scanner_payload: the rule's own tests (its examples run in test_examples.py)."""

from __future__ import annotations

from recordkit import (
    at,
    fired,
    ping_run,
    request,
)


# -- scanner_payload --------------------------------------------------------------------------


def test_scanner_payload_names_nmap_and_hping3():
    nmap = [request("10.9.9.9", "10.1.0.1", at(1), icmp_id=4711, seq=0, ttl=45, payload_class="empty")]
    hping = [request("10.9.9.8", "10.1.0.1", at(1 + n), icmp_id=999, seq=256 * n, ttl=64,
                     payload_class="empty") for n in range(1, 4)]
    out, _ = fired(nmap + hping)
    tools = {a.src_ip: a.doc["details"]["tool"] for a in out["scanner_payload"]}
    assert tools["10.9.9.9"].startswith("nmap")
    assert tools["10.9.9.8"].startswith("hping3")


def test_scanner_payload_fires_on_crafting_tool_signatures():
    out, _ = fired([request("10.9.9.7", "10.1.0.1", at(1), icmp_id=0, seq=0, ttl=64,
                            payload_class="nemesis")])
    assert "nemesis" in out["scanner_payload"][0].doc["summary"]


def test_scanner_payload_is_quiet_for_ordinary_pings():
    records = ping_run("10.20.5.30", "9.9.9.9", 0, 5, payload_class="linux_iputils", ttl=63, icmp_id=4242)
    assert "scanner_payload" not in fired(records)[0]
