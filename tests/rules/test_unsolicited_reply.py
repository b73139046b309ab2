"""unsolicited_reply: the rule's own tests (its examples run in test_examples.py)."""

from __future__ import annotations

from recordkit import (
    at,
    fired,
    ping_run,
    reply,
    syns,
)


# -- unsolicited_reply ------------------------------------------------------------------------


def _lone_replies(host, count, sensor="sensor-a"):
    return [reply("203.0.113.99", host, at(10 + n), icmp_id=100 + n, seq=n, sensor=sensor,
                  payload_class="unknown") for n in range(count)]


def test_trap_asymmetric_routing_keeps_unsolicited_reply_quiet():
    # Only replies are visible: the sensor never saw the host send anything.
    out, _ = fired(_lone_replies("10.50.0.9", 40))
    assert "unsolicited_reply" not in out


def test_unsolicited_reply_fires_where_the_sensor_sees_the_hosts_outbound_traffic():
    records = syns("10.50.0.9", "203.0.113.1", at(5), ttl=127) + _lone_replies("10.50.0.9", 12)
    [alert] = fired(records)[0]["unsolicited_reply"]
    assert alert.doc["summary"].startswith("10.50.0.9 received at least 12 echo replies")


def test_unsolicited_reply_needs_outbound_seen_by_the_same_sensor():
    records = syns("10.50.0.9", "203.0.113.1", at(5), ttl=127, sensor="sensor-b")
    records += _lone_replies("10.50.0.9", 12, sensor="sensor-a")
    assert "unsolicited_reply" not in fired(records)[0]


def test_unsolicited_reply_is_quiet_for_answered_requests():
    records = ping_run("10.50.0.9", "9.9.9.9", 0, 30, payload_class="linux_iputils", ttl=63, icmp_id=9)
    assert fired(records)[0] == {}
