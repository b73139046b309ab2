"""The evasions and false positives of issue 15, each as the record stream that showed it.

Evasions: a tunnel taken for a traceroute, random bytes taken for Linux ping's timestamp, slow
tunnels and reverse shells under the 60-s window, slow sweeps.  False positives: a truncated
request against its full reply, a tool's payload taken for an operating system, documentation
ranges taken for internal networks.  Each has its benign twin next to it.
"""

from __future__ import annotations

import random

import pytest
from recordkit import (
    at,
    by_time,
    data_of,
    ping_run,
    reply,
    reply_to,
    request,
    syns,
    time_exceeded,
    traceroute,
)

from oddping.config import Settings
from processors import scan_records
from producer.record.classify import classify_payload
from samples import craft

NS = 1_000_000_000
RAMP = bytes(range(0x10, 0x38))  # iputils' counting bytes after a 16-byte timeval


def fired(records, rules=None, **settings):
    alerts, stats = scan_records(by_time(records), Settings(rules=rules or {}, **settings))
    out: dict[str, list] = {}
    for alert in alerts:
        out.setdefault(alert.rule_id, []).append(alert)
    return out, stats


# -- 1. traceroute dismissal ---------------------------------------------------------------


def test_a_tunnel_alternating_ttl_62_and_63_is_no_traceroute():
    rng = random.Random(1)
    host, peer = "10.20.7.7", "198.51.100.77"
    records = [
        request(host, peer, at(n * 60 / 19), icmp_id=0x5151, seq=n, ttl=62 + n % 2,
                data=rng.randbytes(200), payload_class="unknown")
        for n in range(19 * 30)
    ]
    out, stats = fired(records)
    assert "unknown_payload" in out
    assert "icmp_tunnel" in out and out["icmp_tunnel"][0].severity == "high"
    assert not stats.dismissed


def test_a_traceroute_without_time_exceeded_and_no_tool_data_is_not_dismissed():
    # TTL stepping from 1 with zero bytes, but no router ever answered: nothing died on the way,
    # so nothing shows these were traceroute probes.
    records = syns("10.20.0.15", "52.1.1.1", at(0), ttl=126)
    records += traceroute("10.20.0.15", "198.51.100.9", 1, payload_class="zeros", data=bytes(64),
                          time_exceeded_back=False)
    out, _ = fired(records)
    assert "ttl_deviation" in out


def test_a_stepping_run_that_starts_high_is_not_a_traceroute():
    # 40, 41, 42 ... with Time Exceeded quoted: a traceroute starts low at the sensor (its
    # first probes that get this far arrive with TTL 1)
    host = "10.20.0.15"
    records = syns(host, "52.1.1.1", at(0), ttl=126)
    for n in range(12):
        probe = request(host, "198.51.100.9", at(1 + n * 0.3), icmp_id=0x77, seq=n + 1,
                        ttl=40 + n // 3, data=bytes(64), payload_class="zeros")
        records += [probe, time_exceeded("192.0.2.1", host, at(1.01 + n * 0.3), probe)]
    out, _ = fired(records)
    assert "ttl_deviation" in out and "unknown_payload" in out


def test_mtr_cycles_restarting_from_ttl_1_are_dismissed():
    # mtr: one probe per TTL per cycle, every cycle from TTL 1 again, Time Exceeded back
    host = "10.20.5.30"
    records = syns(host, "52.1.1.1", at(0), ttl=63)
    seq = 33000
    for cycle in range(5):
        for ttl in range(1, 7):
            probe = request(host, "198.51.100.9", at(1 + cycle + ttl * 0.05), icmp_id=0x7777,
                            seq=seq, ttl=ttl, data=bytes(64), payload_class="zeros")
            records += [probe, time_exceeded(f"192.0.2.{ttl}", host, at(1.01 + cycle + ttl * 0.05),
                                             probe)]
            seq += 1
    out, stats = fired(records)
    assert out == {}
    assert stats.dismissed["ttl_deviation:traceroute"] == 1


# -- 2. payload look-alikes ------------------------------------------------------------------


def test_random_bytes_before_iputils_counting_bytes_are_not_linux_ping():
    rng = random.Random(2)
    host = "10.20.5.31"
    records = syns(host, "52.1.1.1", at(0), ttl=63)  # a Linux-profile host
    for n in range(600):
        req = request(host, "198.51.100.5", at(1 + n), icmp_id=0x1f2e, seq=n + 1, ttl=63,
                      data=rng.randbytes(16) + RAMP)
        assert req["payload_class"] == "ping_imitation"
        records += [req, reply_to(req)]
    out, _ = fired(records)
    assert "unknown_payload" in out


def test_iputils_and_bsd_timestamps_must_be_the_send_time():
    now = 1_700_000_000.25
    ts_ns = int(now * NS)
    assert classify_payload(craft.payload_linux(now), 1, 1, ts_ns) == "linux_iputils"
    assert classify_payload(craft.payload_linux(now - 2), 1, 1, ts_ns) == "linux_iputils"
    assert classify_payload(craft.payload_linux(now - 86_400), 1, 1, ts_ns) == "ping_imitation"
    assert classify_payload(craft.payload_bsd(now), 1, 1, ts_ns) == "bsd"
    assert classify_payload(craft.payload_bsd(now + 86_400), 1, 1, ts_ns) == "ping_imitation"
    # 32-bit iputils writes an 8-byte timeval in host order: the BSD row, same checks
    assert classify_payload(craft.payload_linux(now, tv_bytes=8), 1, 1, ts_ns) == "bsd"
    # the right second, but microseconds that are no microseconds
    sec = int(now)
    bad_usec = sec.to_bytes(8, "little") + (1_000_000).to_bytes(8, "little") + RAMP
    assert classify_payload(bad_usec, 1, 1, ts_ns) == "ping_imitation"
    # the timestamp right, a counting byte off
    off = bytearray(craft.payload_linux(now))
    off[40] ^= 0xFF
    assert classify_payload(bytes(off), 1, 1, ts_ns) != "linux_iputils"


# -- 3. slow tunnels and reverse shells --------------------------------------------------------


def _slow_tunnel():
    rng = random.Random(3)
    host, peer = "10.20.8.8", "198.51.100.88"
    records = []
    for n in range(180):  # 30 minutes
        req = request(host, peer, at(n * 10), icmp_id=0x2020, seq=n, ttl=64,
                      data=rng.randbytes(rng.randint(20, 60)))
        records += [req, reply_to(req)]
    return records


def test_a_slow_tunnel_of_one_request_every_10_s_is_a_tunnel():
    out, _ = fired(_slow_tunnel())
    [alert] = out["icmp_tunnel"][:1]
    assert alert.severity == "high"
    assert "min" in alert.doc["details"]["signal"]


@pytest.mark.parametrize("tunables, fires", [
    # its weight peaks near 150 packets (0.2 a second, half-life 10 min, 30 min long)
    ({"long_min_packets": 140}, True), ({"long_min_packets": 160}, False),
    ({"long_min_span_s": 1700}, True), ({"long_min_span_s": 1800}, False),
])
def test_the_long_horizon_thresholds(tunables, fires):
    out, _ = fired(_slow_tunnel(), {"icmp_tunnel": tunables})
    assert ("icmp_tunnel" in out) is fires


def test_a_reverse_shell_polling_every_2_s_is_a_tunnel():
    rng = random.Random(4)
    host, peer = "10.20.9.9", "198.51.100.99"
    records = []
    for n in range(900):  # 30 minutes
        data = b"" if rng.random() < 0.8 else rng.randbytes(rng.randint(4, 40))
        req = request(host, peer, at(n * 2), icmp_id=0x3131, seq=n, ttl=64, data=data)
        command = rng.randbytes(rng.randint(4, 24))  # the server's data, not the request's
        records += [req, reply_to(req, data=command)]
    out, _ = fired(records)
    assert out["icmp_tunnel"][0].severity == "high"


def test_traps_monitoring_pings_stay_quiet_for_hours():
    records = []
    # a monitoring ping once a second for two hours (iputils)
    records += ping_run("10.20.5.40", "10.0.0.1", 0, 7200, payload_class="linux_iputils", ttl=64,
                        icmp_id=0x0101)
    # Windows ping -t, once a second for two hours
    records += ping_run("10.20.5.41", "10.0.0.2", 0, 7200, payload_class="windows", ttl=128,
                        icmp_id=1)
    # an fping loop over 3 targets every second: one id, one sequence, round robin
    seq = 0
    for n in range(2400):
        for k in range(3):
            req = request("10.20.5.42", f"10.0.0.{10 + k}", at(n * 3 + k * 0.01), icmp_id=0x4242,
                          seq=seq % 65536, ttl=64, payload_class="fping")
            records += [req, reply_to(req)]
            seq += 1
    # a monitor's own fixed payload, every 10 s
    records += ping_run("10.20.5.43", "10.0.0.3", 0, 720, payload_class="unknown", ttl=64,
                        icmp_id=0x0505, interval_s=10)
    out, _ = fired(records)
    assert "icmp_tunnel" not in out and "ping_sweep" not in out
    assert set(out) <= {"unknown_payload"}


# -- 4. slow sweeps ----------------------------------------------------------------------------


def test_a_sweep_of_a_24_paced_over_an_hour_is_a_sweep():
    host = "10.9.9.10"
    records = []
    for n in range(254):  # one iputils ping each, 63 minutes in all
        req = request(host, f"10.77.0.{n + 1}", at(n * 63 * 60 / 254), icmp_id=0x1000 + n, seq=1,
                      ttl=64, payload_class="linux_iputils")
        records += [req, reply_to(req)]
    out, _ = fired(records)
    [alert] = out["ping_sweep"][:1]
    assert "within 60 min" in alert.doc["summary"]


# -- 5. truncated request, full reply ------------------------------------------------------------


def test_a_truncated_request_and_its_full_reply_agree_on_the_bytes_both_kept():
    host = "10.20.0.15"
    req = request(host, "198.51.100.66", at(1), icmp_id=77, seq=1, ttl=126,
                  data=craft.payload_windows(1000), captured=60)
    full = reply(req["dst_ip"], host, at(1.02), icmp_id=77, seq=1, data=craft.payload_windows(1000))
    assert "reply_mismatch" not in fired([req, full])[0]
    # ... and differ where they differ, said to be a partial comparison
    other = reply(req["dst_ip"], host, at(1.02), icmp_id=77, seq=1,
                  data=b"X" + craft.payload_windows(999))
    [alert] = fired([req, other])[0]["reply_mismatch"]
    assert "first 60 bytes" in alert.doc["evidence"][0]["note"]


def test_a_truncated_reply_is_compared_on_its_kept_bytes_when_the_request_was_whole():
    host = "10.20.0.15"
    req = request(host, "198.51.100.66", at(1), icmp_id=78, seq=1, ttl=126,
                  data=craft.payload_windows(200))
    honest = reply_to(req, captured=40)
    assert "reply_mismatch" not in fired([req, honest])[0]


# -- 6. tools are not operating systems -----------------------------------------------------------


def test_fping_on_a_windows_host_accuses_nothing():
    host = "10.20.0.30"
    for profile in ([], syns(host, "52.1.1.1", at(0), ttl=128)):
        records = list(profile)
        seq = 0
        for rnd in range(20):
            for k in range(3):
                req = request(host, f"10.6.0.{k + 1}", at(1 + rnd + k * 0.01), icmp_id=0x0bad,
                              seq=seq, ttl=128, payload_class="fping")
                records += [req, reply_to(req)]
                seq += 1
        out, _ = fired(records)
        assert "os_ttl_mismatch" not in out and "multi_destination_sequence" not in out
        assert out == {}


# -- 7. internal networks ------------------------------------------------------------------------


def test_internal_is_a_configured_list_of_networks():
    def question(dst):
        return request("10.20.0.40", dst, at(1), ttl=128, payload_class="single_question")

    # RFC 1918, RFC 4193 and CGNAT are internal by default: DC-to-DC '?' is ordinary there
    for dst in ("10.1.2.3", "fd00::5", "100.64.1.1"):
        rec = question(dst) if ":" not in dst else request("fd00::40", dst, at(1), ttl=128,
                                                          payload_class="single_question")
        assert "tiny_payload" not in fired([rec])[0], dst
    # documentation and test ranges are not
    for dst in ("192.0.2.7", "198.51.100.7", "203.0.113.7"):
        assert "tiny_payload" in fired([question(dst)])[0], dst
    # ... unless configured so
    out, _ = fired([question("192.0.2.7")], networks={"internal": ["192.0.2.0/24"]})
    assert "tiny_payload" not in out


def test_internal_networks_come_from_the_config_file_and_bad_ones_are_one_line_errors(tmp_path):
    from oddping.config import ConfigError, load_config

    path = tmp_path / "oddping.toml"
    path.write_text('[networks]\ninternal = ["192.0.2.0/24", "2001:db8::/32"]\n')
    settings = load_config(path)
    rec = request("10.20.0.40", "192.0.2.7", at(1), ttl=128, payload_class="single_question")
    alerts, _ = scan_records([rec], settings)
    assert not alerts
    path.write_text('[networks]\ninternal = ["10.0.0.0/33"]\n')
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "networks.internal" in str(err.value) and "\n" not in str(err.value)
