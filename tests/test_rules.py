"""Each rule, positive and negative, from crafted records, including the field guide's traps:
Windows' shared sequence counter, fping's round-robin, traceroute's TTL stepping, asymmetric
routing.  Plus the registry and configuration contract."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from recordkit import (
    FOOTPRINTS_DSTS,
    at,
    by_time,
    data_of,
    footprints_burst,
    ping_run,
    random_data,
    reply,
    reply_to,
    request,
    syn,
    syns,
    traceroute,
)

from oddping.config import ConfigError, Settings
from processors import scan_records
from processors.alerts.attack import TECHNIQUES
from processors.payloads import PAYLOAD_CLASSES
from processors.rules import RULE_IDS, RULES, load_rule_settings
from samples import craft

ROOT = Path(__file__).resolve().parent.parent
ODD = "10.20.0.15"


def fired(records, rules=None, **settings):
    """rule_id -> alerts, after scanning the records in capture order."""
    alerts, stats = scan_records(by_time(records), Settings(rules=rules or {}, **settings))
    out: dict[str, list] = {}
    for alert in alerts:
        out.setdefault(alert.rule_id, []).append(alert)
    return out, stats


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


# -- tiny_payload -----------------------------------------------------------------------------


@pytest.mark.parametrize("payload_class", ["zeros", "empty", "single_question"])
def test_tiny_payload_fires_under_12_bytes(payload_class):
    out, _ = fired([request(ODD, "13.107.4.52", at(1), seq=1, ttl=120, payload_class=payload_class)])
    [alert] = out["tiny_payload"]
    assert alert.doc["payload_len_max"] < 12


def test_tiny_payload_is_quiet_for_ordinary_data_and_dc_to_dc_question_marks():
    records = ping_run(ODD, "8.8.8.8", 0, 3, payload_class="windows", ttl=126, icmp_id=1)
    records.append(request("10.1.1.10", "10.1.1.11", at(5), payload_class="single_question", ttl=128))
    out, _ = fired(records)
    assert "tiny_payload" not in out


def test_tiny_payload_threshold_is_tunable():
    records = [request(ODD, "198.51.100.1", at(1), payload_class="superscan", ttl=64)]  # 8 bytes
    assert "tiny_payload" in fired(records)[0]
    assert "tiny_payload" not in fired(records, {"tiny_payload": {"min_bytes": 8}})[0]


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


# -- reply_mismatch ---------------------------------------------------------------------------


def test_reply_mismatch_fires_when_reply_data_differs():
    req = request(ODD, "198.51.100.66", at(1), icmp_id=77, seq=1, payload_class="windows", ttl=126)
    bad = reply_to(req, payload_class="printable_text", data=b"net user /domain")
    [alert] = fired([req, bad])[0]["reply_mismatch"]
    assert alert.doc["icmp_types"] == [0]
    assert "differs from the request" in alert.doc["summary"]
    assert "note" in alert.doc["evidence"][0]


def test_reply_mismatch_is_quiet_for_honest_and_truncated_replies():
    req = request(ODD, "198.51.100.66", at(1), icmp_id=77, seq=1, payload_class="windows", ttl=126)
    honest = reply_to(req)
    truncated = reply_to(req, captured=10)  # snapped: 10 of its 32 bytes kept
    assert "reply_mismatch" not in fired([req, honest, truncated])[0]


def test_reply_mismatch_can_compare_lengths_only():
    req = request(ODD, "198.51.100.66", at(1), icmp_id=77, seq=1, payload_class="windows", ttl=126)
    rewritten = reply_to(req, data=b"Z" * 32)
    assert "reply_mismatch" in fired([req, rewritten])[0]
    assert "reply_mismatch" not in fired([req, rewritten], {"reply_mismatch": {"compare": "length"}})[0]


def test_reply_matches_a_broadcast_ping_from_any_responder():
    req = request(ODD, "10.20.255.255", at(1), icmp_id=5, seq=1, payload_class="linux_iputils", ttl=64)
    replies = [reply(f"10.20.0.{n}", ODD, at(1.01), icmp_id=5, seq=1, data=data_of(req),
                     payload_class="linux_iputils") for n in range(30, 45)]
    out, _ = fired([req] + replies)
    assert "reply_mismatch" not in out and "unsolicited_reply" not in out


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


# -- oversized_payload ------------------------------------------------------------------------


def test_oversized_payload_fires_over_1024_bytes_and_on_fragments():
    big = request(ODD, "198.51.100.1", at(1), payload_class="zeros", data=bytes(1400), ttl=126)
    frag = request("10.20.0.16", "198.51.100.1", at(1), payload_class="windows",
                   data=craft.payload_windows(128), ttl=126, fragmented=True)
    out, _ = fired([big, frag])
    by_host = {a.src_ip: a for a in out["oversized_payload"]}
    assert set(by_host) == {ODD, "10.20.0.16"}
    assert "some fragmented" in by_host["10.20.0.16"].doc["summary"]


def test_oversized_payload_is_quiet_up_to_the_limit():
    ok = request(ODD, "198.51.100.1", at(1), payload_class="windows", data=craft.payload_windows(1024),
                 ttl=126)  # ping -l 1024: 1024 bytes of Windows' alphabet
    assert "oversized_payload" not in fired([ok])[0]


# -- icmp_tunnel ------------------------------------------------------------------------------


@pytest.mark.parametrize("payload_class", ["ptunnel", "printable_text"])
def test_icmp_tunnel_magic_or_sustained_exchange(payload_class):
    if payload_class == "ptunnel":
        records = [request(ODD, "198.51.100.30", at(1), icmp_id=5, ttl=126, payload_class="ptunnel")]
    else:  # no magic: changing, varying data both ways, replies that are not echoes
        rng = random.Random(3)
        records = []
        for n in range(15):
            req = request(ODD, "198.51.100.30", at(1 + n), icmp_id=5, seq=n, ttl=126,
                          payload_class="unknown", data=random_data(rng, 64, 900))
            records += [req, reply_to(req, payload_class="unknown", data=random_data(rng, 64, 900))]
    [alert] = fired(records)[0]["icmp_tunnel"]
    assert alert.doc["details"]["signal"]


def test_icmp_tunnel_ignores_ordinary_pings_and_repeated_payloads():
    records = ping_run("10.20.5.30", "9.9.9.9", 0, 60, payload_class="linux_iputils", ttl=63,
                       icmp_id=4242)  # Linux ping's data changes every packet: still a ping
    records += ping_run(ODD, "198.51.100.30", 0, 60, payload_class="unknown", ttl=126, icmp_id=3)
    out, _ = fired(records)
    assert "icmp_tunnel" not in out


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


# -- the registry and configuration -----------------------------------------------------------

CONTRACT_IDS = (
    "multi_destination_sequence", "tiny_payload", "unknown_payload", "scanner_payload",
    "os_ttl_mismatch", "ttl_deviation", "reply_mismatch", "unsolicited_reply",
    "oversized_payload", "icmp_tunnel", "ping_sweep", "icmp_flood", "fragment_anomaly",
)


def test_registry_holds_exactly_the_contract_ids_one_module_each():
    assert RULE_IDS == CONTRACT_IDS
    assert [module.__name__.rsplit(".", 1)[1] for module in RULES.values()] == list(CONTRACT_IDS)


@pytest.mark.parametrize("rule_id", CONTRACT_IDS)
def test_every_rule_carries_its_metadata_and_documents_its_tunables(rule_id):
    module = RULES[rule_id]
    meta = module.METADATA
    assert module.__doc__ and module.__doc__.startswith(f"{rule_id}:")
    assert meta.id == rule_id and meta.title and meta.description
    assert meta.severity in ("low", "medium", "high", "critical")
    assert meta.attack and all(t in TECHNIQUES for t in meta.attack)
    assert meta.false_positives and meta.references and meta.triage
    for name, field in module.Tunables.model_fields.items():
        assert field.description, f"{rule_id}.{name} is not documented"
    defaults = module.Tunables()
    assert defaults.enabled is True and defaults.severity is None


def test_payload_table_matches_the_producers_contract():
    listed = [
        line.split()[0]
        for line in (ROOT / "producer/record/PAYLOAD_CLASSES.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert sorted(listed) == sorted(PAYLOAD_CLASSES)


def test_unknown_rule_id_is_a_one_line_config_error():
    with pytest.raises(ConfigError) as err:
        load_rule_settings({"tiny_payloads": {}})
    assert "unknown rule id 'tiny_payloads'" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "section, words",
    [
        ({"tiny_payload": {"min_bytes": "many"}}, ["[rules.tiny_payload]", "min_bytes"]),
        ({"ping_sweep": {"min_destinations": 1}}, ["[rules.ping_sweep]", "min_destinations"]),
        ({"ping_sweep": {"threshold": 5}}, ["[rules.ping_sweep]", "threshold"]),
        ({"icmp_tunnel": {"severity": "urgent"}}, ["[rules.icmp_tunnel]", "severity"]),
        ({"unknown_payload": {"classes": ["zeroes"]}}, ["unknown payload class 'zeroes'"]),
        ({"tiny_payload": 3}, ["[rules.tiny_payload] must be a table"]),
    ],
)
def test_bad_tunables_are_one_line_config_errors(section, words):
    with pytest.raises(ConfigError) as err:
        load_rule_settings(section)
    message = str(err.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_config_file_sections_reach_the_rules(tmp_path):
    from oddping.config import load_config

    path = tmp_path / "oddping.toml"
    path.write_text(
        '[rules.tiny_payload]\nseverity = "high"\n\n[rules.ping_sweep]\nenabled = false\n'
    )
    settings = load_config(path)
    tunables = load_rule_settings(settings.rules)
    assert tunables["tiny_payload"].severity == "high"
    records = footprints_burst(ODD, 0, 40)
    records += [request("10.9.9.9", f"10.1.0.{n}", at(n), seq=n, ttl=64) for n in range(1, 30)]
    out, _ = fired(records, settings.rules)
    assert out["tiny_payload"][0].severity == "high"
    assert "ping_sweep" not in out


# -- icmp_tunnel's heuristics one at a time, just below and just above their thresholds --------
# Requests only unless replies are the point, to one peer within one 60-s window; each case
# keeps the other heuristics far from firing (repeated payloads, one size, honest replies).

TUNNEL_HOST, TUNNEL_PEER = "10.20.3.3", "198.51.100.33"


def _tunnel_requests(payloads, start_s=1.0):
    return [request(TUNNEL_HOST, TUNNEL_PEER, at(start_s + n * 2), icmp_id=0x0707, seq=n, ttl=64,
                    data=data) for n, data in enumerate(payloads)]


def _tunnel_fired(records, **tunables):
    return "icmp_tunnel" in fired(records, {"icmp_tunnel": tunables} if tunables else None)[0]


def _blob(n: int, size: int = 120) -> bytes:
    return random.Random(n).randbytes(size)


@pytest.mark.parametrize("count, fires", [(19, False), (20, True)])
def test_icmp_tunnel_min_packets(count, fires):
    records = _tunnel_requests([_blob(n) for n in range(count)])  # all distinct, 120 bytes
    assert _tunnel_fired(records) is fires


@pytest.mark.parametrize("last, fires", [(109, False), (110, True)])  # 19 x 102 + last: 2047 / 2048
def test_icmp_tunnel_min_bytes(last, fires):
    records = _tunnel_requests([_blob(n, 102) for n in range(19)] + [_blob(99, last)])
    assert _tunnel_fired(records) is fires


@pytest.mark.parametrize("distinct, fires", [(9, False), (10, True)])  # of 20: 0.45 / 0.5
def test_icmp_tunnel_min_distinct_ratio(distinct, fires):
    payloads = [_blob(n) for n in range(distinct)] + [_blob(0)] * (20 - distinct)
    assert _tunnel_fired(_tunnel_requests(payloads)) is fires


@pytest.mark.parametrize("other, fires", [(131, False), (132, True)])  # stdev 15.5 / 16.0
def test_icmp_tunnel_min_size_stdev(other, fires):
    a, b = _blob(1, 100), _blob(2, other)
    assert _tunnel_fired(_tunnel_requests([a, b] * 10)) is fires


@pytest.mark.parametrize("mismatched, fires", [(2, False), (3, True)])  # of 12 replies: 0.17 / 0.25
def test_icmp_tunnel_min_mismatch_ratio(mismatched, fires):
    same, other = _blob(1, 100), _blob(2, 100)
    records = []
    for req in _tunnel_requests([same] * 12):
        last = req["icmp_seq"] >= 12 - mismatched  # the mismatches come last: judged at the end
        records += [req, reply_to(req, data=other if last else same)]
    assert _tunnel_fired(records) is fires
