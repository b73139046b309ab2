"""ping_sweep: the rule's own tests (its examples run in test_examples.py)."""

from __future__ import annotations

from recordkit import (
    at,
    fired,
    request,
)


# -- ping_sweep -------------------------------------------------------------------------------


def test_ping_sweep_fires_on_20_destinations_within_a_minute():
    records = [request("10.9.9.9", f"10.1.0.{n}", at(n), icmp_id=1, seq=n, ttl=64,
                       payload_class="linux_iputils") for n in range(1, 26)]
    [alert] = fired(records)[0]["ping_sweep"]
    assert alert.doc["details"]["max_destinations"] == 25


def test_ping_sweep_is_quiet_below_the_threshold_or_spread_out():
    few = [request("10.9.9.9", f"10.1.0.{n}", at(n), icmp_id=1, seq=n, ttl=64,
                   payload_class="linux_iputils") for n in range(1, 20)]
    slow = [request("10.9.9.8", f"10.1.0.{n}", at(n * 61), icmp_id=1, seq=n, ttl=64,
                    payload_class="linux_iputils") for n in range(1, 40)]
    assert "ping_sweep" not in fired(few + slow)[0]
