"""The alert lifecycle (processors/lifecycle.py): version 1 within the first delay of event time,
driven by other hosts' records too; updates at most once per interval; a severity rise at once;
a closed final version whose content is scan's, however versions were interleaved."""

from __future__ import annotations

import pytest
from recordkit import at, by_time, footprints_burst, ping_run, request, syns, traceroute, zoo

import schemas

from oddping.config import Settings
from processors import Engine, scan_records
from processors.alerts import parse_iso_ns
from processors.findings import Finding
from processors.lifecycle import content
from processors.rules import tiny_payload
from processors.scan import final_versions, latest_versions
from test_engine import long_mix

ODD = "10.20.0.15"
NOISY = "10.20.9.9"  # an ordinary host whose pings move event time


def settings(first_delay_s: float = 1.0, interval_s: float = 60.0, **rules) -> Settings:
    return Settings(processor={"alert_first_delay_s": first_delay_s,
                               "alert_update_interval_s": interval_s}, rules=rules)


def feed(engine: Engine, records) -> list:
    out = []
    for record in records:
        for alert in engine.process(record):
            out.append((record["ts_ns"], alert))
    return out


def background(start_s: float, seconds: int) -> list[dict]:
    return ping_run(NOISY, "8.8.8.8", start_s, seconds, payload_class="linux_iputils", ttl=64,
                    icmp_id=77, interval_s=1)


def test_one_packet_then_silence_is_reported_on_other_hosts_time():
    """A host sends one tiny echo and falls silent: version 1 comes with the first record of
    another host that moves event time past the first delay, long before the window ends."""
    engine = Engine(settings(first_delay_s=2.0))
    lone = request(ODD, "13.107.4.52", at(10.5), payload_class="zeros", ttl=28)
    out = feed(engine, by_time([lone] + background(0, 60)))
    tiny = [(ts, a) for ts, a in out if a.rule_id == "tiny_payload"]
    assert len(tiny) == 1
    ts, alert = tiny[0]
    doc = alert.doc
    assert (doc["version"], doc["status"], doc["packet_count"]) == (1, "open", 1)
    assert at(12.5) <= ts <= at(13.5)  # the first background record at or past 10.5 + 2 s
    assert parse_iso_ns(doc["version_time"]) == ts
    assert ts < parse_iso_ns(doc["window_end"])


def test_zero_delay_emits_with_the_finding_itself():
    engine = Engine(settings(first_delay_s=0))
    lone = request(ODD, "13.107.4.52", at(10.5), payload_class="zeros", ttl=28)
    out = feed(engine, [lone])
    assert [(ts, a.rule_id, a.doc["version"]) for ts, a in out if a.rule_id == "tiny_payload"] \
        == [(at(10.5), "tiny_payload", 1)]


@pytest.mark.parametrize("interval_s", [30.0, 60.0, 120.0])
def test_updates_come_at_most_once_per_interval_while_evidence_grows(interval_s):
    """Footprints every 20 s for ten minutes inside one window: open versions at least the
    interval apart in event time, each with more packets; the rest are counted as held."""
    engine = Engine(settings(interval_s=interval_s, tiny_payload={"alert_window_s": 3600}))
    records = syns(ODD, "52.1.1.1", at(0), ttl=126)
    for n in range(30):
        records += footprints_burst(ODD, 20 * n, 1 + 9 * n, rounds=1)
    out = feed(engine, by_time(records + background(0, 620)))
    tiny = [a.doc for _, a in out if a.rule_id == "tiny_payload"]
    assert tiny and all(d["status"] == "open" for d in tiny)
    assert [d["version"] for d in tiny] == list(range(1, len(tiny) + 1))
    times = [parse_iso_ns(d["version_time"]) for d in tiny]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert gaps and min(gaps) >= interval_s * 1e9
    assert len(tiny) >= int(580 // interval_s)  # evidence kept coming: updates kept coming
    counts = [d["packet_count"] for d in tiny]
    assert counts == sorted(counts) and counts[-1] > counts[0]
    assert engine.stats.updates_held > 0
    final = engine.flush()
    closed = [a.doc for a in final if a.rule_id == "tiny_payload"]
    assert len(closed) == 1 and closed[0]["status"] == "closed"
    assert closed[0]["version"] == len(tiny) + 1
    assert closed[0]["packet_count"] == 90


@pytest.mark.parametrize("first_delay_s,interval_s", [(0, 0), (1.0, 60.0), (2.0, 7.0)])
def test_final_versions_equal_scans_whatever_the_schedule(first_delay_s, interval_s):
    mix = long_mix()
    engine = Engine(settings(first_delay_s, interval_s))
    emitted = [a for _, a in feed(engine, mix)] + engine.flush()
    streamed = latest_versions(emitted)
    scanned, _ = scan_records(mix)
    assert all(a.doc["status"] == "closed" for a in streamed)
    assert {a.alert_id: content(a.doc) for a in streamed} == \
        {a.alert_id: content(a.doc) for a in scanned}
    assert engine.stats.versions["open"] > len(streamed)  # the lifecycle did run


def test_only_the_final_version_without_open_versions_and_every_version_with():
    finals, _ = scan_records(zoo())
    everything, _ = scan_records(zoo(), all_versions=True)
    assert all(a.doc["status"] == "closed" for a in finals)
    assert len(everything) > len(finals)
    assert {a.alert_id for a in everything} == {a.alert_id for a in finals}


def test_a_severity_rise_inside_a_window_is_emitted_at_once(monkeypatch):
    """A finding above the window's severity (a signature after heuristics) is not held back
    by the interval: the next record's check emits an update carrying it."""
    plain = tiny_payload.Detector.on_echo_request

    def signature_on_odd_ttl(self, host, record, context):
        found = plain(self, host, record, context)
        if found and record["ttl"] == 99:
            return (Finding(self.rule_id, record, severity="critical"),)
        return found

    monkeypatch.setattr(tiny_payload.Detector, "on_echo_request", signature_on_odd_ttl)
    engine = Engine(settings(interval_s=600))
    first = [request(ODD, "13.107.4.52", at(t), payload_class="zeros", ttl=28, seq=t)
             for t in range(10, 20)]
    signature = request(ODD, "13.107.4.52", at(30), payload_class="zeros", ttl=99, seq=30)
    out = feed(engine, by_time(first + [signature] + background(0, 60)))
    tiny = [(ts, a.doc) for ts, a in out if a.rule_id == "tiny_payload"]
    assert [d["severity"] for _, d in tiny] == ["low", "critical"]
    ts, raised = tiny[1]
    assert ts == at(30) and raised["version"] == 2 and raised["status"] == "open"
    closed = [a.doc for a in engine.flush() if a.rule_id == "tiny_payload"]
    assert closed[0]["severity"] == "critical" and closed[0]["status"] == "closed"
    scanned, _ = scan_records(by_time(first + [signature]), settings())
    assert [a.severity for a in scanned if a.rule_id == "tiny_payload"] == ["critical"]


def test_a_window_closed_by_the_hosts_own_time_gets_a_closed_version_without_new_evidence():
    engine = Engine(settings(tiny_payload={"alert_window_s": 60}))
    burst = [request(ODD, "13.107.4.52", at(0), payload_class="zeros", ttl=28)]
    # the host's own time closes the window sensor_late_bound_s (300 s) after its end
    ordinary = [request(ODD, "8.8.8.8", at(t), payload_class="linux_iputils") for t in (20, 370)]
    out = feed(engine, burst + ordinary)
    docs = [a.doc for _, a in out if a.rule_id == "tiny_payload"]
    assert [(d["version"], d["status"]) for d in docs] == [(1, "open"), (2, "closed")]
    # nothing new since version 1, but what the host's other traffic taught in between: its
    # hop distance, hence the packets' initial TTL and the campaign it names
    learned = ("initial_ttl", "campaign_id")
    assert ({k: v for k, v in content(docs[0]).items() if k not in learned}
            == {k: v for k, v in content(docs[1]).items() if k not in learned})


def test_versions_survive_a_state_round_trip():
    """The worker's table: a restarted engine goes on from the saved version number and due
    time, so the version numbers of one alert_id never repeat with other content."""
    engine = Engine(settings(interval_s=30), track_changes=True)
    records = by_time(footprints_burst(ODD, 0, 1) + background(0, 20))
    feed(engine, records)
    saved = engine.state_for(ODD)
    restarted = Engine(settings(interval_s=30))
    restarted.load_state(ODD, saved)
    later = by_time(footprints_burst(ODD, 40, 20) + background(21, 80))
    docs = [a.doc for _, a in feed(restarted, later) if a.rule_id == "tiny_payload"]
    before = saved["windows"]
    tiny_before = next(w for w in before if w["rule_id"] == "tiny_payload")
    assert docs and docs[0]["version"] == tiny_before["version"] + 1


def test_the_longest_update_interval_still_exports_the_hosts_state():
    """The next version's due time is kept in nanoseconds of capture time: an interval past the
    bound would overflow the exported state (a worker crashed at its first checkpoint with
    1e12 s), so the setting refuses it, and the longest it takes exports."""
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="alert_update_interval_s"):
        settings(interval_s=1e12)
    engine = Engine(settings(interval_s=86_400), track_changes=True)
    feed(engine, by_time(footprints_burst(ODD, 0, 1) + background(0, 20)))
    changes = engine.take_changes()
    assert changes[ODD] is not None and b'"due_ns"' in changes[ODD]


def test_an_alert_a_rule_dismisses_at_close_ends_with_a_dismissed_version():
    """With no first delay, tracert's first probe goes out as an open ttl_deviation alert
    before its next probes show the TTL stepping; at close the rule explains the window away,
    and the alert's last version says so (scan prints nothing for it)."""
    records = syns(ODD, "52.1.1.1", at(0), ttl=126)
    records += traceroute(ODD, "198.51.100.9", 1, payload_class="zeros", data=bytes(64))
    engine = Engine(settings(first_delay_s=0))
    emitted = [a for _, a in feed(engine, by_time(records))] + engine.flush()
    ttl = [a.doc for a in emitted if a.rule_id == "ttl_deviation"]
    assert ttl and ttl[0]["status"] == "open"
    assert ttl[-1]["status"] == "dismissed" and ttl[-1]["version"] == len(ttl)
    assert engine.stats.dismissed["ttl_deviation:traceroute"] == 1
    scanned, _ = scan_records(by_time(records), settings(first_delay_s=0), all_versions=True)
    assert [a for a in final_versions(scanned) if a.rule_id == "ttl_deviation"] == []
    assert all(schemas.first_error(schemas.ALERT_SCHEMA, doc) is None for doc in ttl)


def test_every_version_shows_its_windows_evidence_as_it_is_then(monkeypatch):
    """Versions reuse the evidence rows the previous version rendered (build.py).  A row
    another sensor's copy credits after a version went out changes (it gains its copies), and
    every version must show it as it is then: the same documents as rendering afresh."""
    from processors.alerts import build
    from test_vantage import further_out

    access = [dict(r, sensor_id="access") for r in zoo()]
    records = by_time(access + further_out(access))

    def versions():
        engine = Engine(settings(first_delay_s=0, interval_s=0))
        docs = [a.doc for _ts, a in feed(engine, records)]
        return docs + [a.doc for a in engine.flush()]

    cached = versions()
    monkeypatch.setattr(build, "_rendered_evidence",
                        lambda window: [build._evidence(row) for row in window.evidence])
    fresh = versions()
    assert cached == fresh
    credited = [d for d in cached if any("copies" in e for e in d["evidence"])]
    assert len(credited) > 1 and max(d["version"] for d in credited) > 1
