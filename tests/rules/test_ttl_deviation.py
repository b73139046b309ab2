"""ttl_deviation: the rule's own tests (its examples run in test_examples.py)."""

from __future__ import annotations

from recordkit import (
    at,
    fired,
    footprints_burst,
    ODD,
    ping_run,
    request,
    syns,
    traceroute,
)


# -- ttl_deviation ----------------------------------------------------------------------------


def test_ttl_deviation_fires_on_the_seed_with_the_analysts_sentence():
    records = syns(ODD, "52.1.1.1", at(0), ttl=126) + footprints_burst(ODD, 5, 40)
    [alert] = fired(records)[0]["ttl_deviation"]
    assert alert.doc["summary"] == (
        "10.20.0.15 sent 2-byte echo requests with TTL 28 (initial 30 at 2 hops; its other"
        " traffic starts at 128) using identifier 0x0001 with sequence 40-48 spread over"
        " 3 destinations"
    )
    assert alert.doc["details"]["implied_initial_ttl"] == 30


def test_ttl_deviation_judges_earlier_echoes_once_the_hop_distance_is_learned():
    records = footprints_burst(ODD, 0, 40) + syns(ODD, "52.1.1.1", at(10), ttl=126)
    [alert] = fired(records)[0]["ttl_deviation"]
    assert alert.doc["packet_count"] == 9


def test_ttl_deviation_learns_from_the_hosts_own_os_pings():
    records = ping_run(ODD, "8.8.8.8", 0, 2, payload_class="windows", ttl=126, icmp_id=1)
    records += footprints_burst(ODD, 5, 3)
    assert fired(records)[0]["ttl_deviation"][0].doc["details"]["learned_from"] == "windows"


def test_ttl_deviation_other_normal_initial_is_tunable():
    # 62 at 2 hops = 64: a normal stack, but not this Windows host's own (WSL, a VM, a tool).
    records = [*syns(ODD, "52.1.1.1", at(0), ttl=126),
               request(ODD, "10.0.0.1", at(1), ttl=62, payload_class="unknown")]
    assert "ttl_deviation" in fired(records)[0]
    off = {"ttl_deviation": {"flag_other_normal_initial": False}}
    assert "ttl_deviation" not in fired(records, off)[0]


def test_ttl_deviation_is_quiet_without_a_hop_distance_or_for_normal_ttls():
    assert "ttl_deviation" not in fired(footprints_burst(ODD, 0, 40))[0]
    records = syns(ODD, "52.1.1.1", at(0), ttl=126)
    records += ping_run(ODD, "8.8.8.8", 1, 4, payload_class="windows", ttl=126, icmp_id=1)
    assert fired(records)[0] == {}


def test_trap_linux_traceroute_ttl_stepping_is_not_a_ttl_finding():
    records = syns("10.20.5.30", "52.1.1.1", at(0), ttl=63)
    records += traceroute("10.20.5.30", "198.51.100.9", 1, hops_to_sensor=1)
    out, _ = fired(records)
    assert out == {}
