"""``--format ecs`` and ``--format ocsf`` checked against the published definitions: ECS 8.17.0's
``ecs_flat.yml`` and OCSF 1.3.0's Detection Finding (class 2004) with its base event, objects,
profiles and dictionary (tests/data/, checked by tests/siem_schemas.py).

Every alert of every rule (the crafted zoo) and every alert the sample captures raise (IPv4 and
IPv6, real decoder output) is rendered in both formats and must validate.  The validator's own
tests break valid documents the ways a mapping goes wrong and expect each to be reported.
"""

from __future__ import annotations

import copy

import pytest
from recordkit import every_rule
from siem_schemas import ecs_problems, ocsf_problems, ocsf_schema

from processors import scan_records
from processors.rules import RULE_IDS

SAMPLE_CAPTURES = ("footprints.pcap", "encapsulations.pcapng", "mixed-small.pcap.gz")


@pytest.fixture(scope="module")
def alerts(samples_dir):
    import producer

    found, _ = scan_records(every_rule())
    assert {a.rule_id for a in found} == set(RULE_IDS)  # every rule's alerts are checked
    for name in SAMPLE_CAPTURES:
        decoded = producer.decode_file(str(samples_dir / name))
        assert decoded.error is None, name
        from_capture, _ = scan_records(decoded.records)
        assert from_capture, f"{name} raised no alert"
        found += from_capture
    assert {a.doc["ip_version"] for a in found} == {4, 6}
    return found


def test_every_ecs_document_follows_ecs_8_17(alerts):
    for alert in alerts:
        assert ecs_problems(alert.render("ecs")) == [], (alert.rule_id, alert.src_ip)


def test_every_ocsf_document_is_a_valid_detection_finding(alerts):
    for alert in alerts:
        assert ocsf_problems(alert.render("ocsf")) == [], (alert.rule_id, alert.src_ip)


def test_the_vendored_ocsf_schema_is_1_3_0_with_detection_finding_resolved():
    schema = ocsf_schema()
    finding = schema.classes["detection_finding"]
    assert schema.version == "1.3.0" and finding.uid == 2004
    # extends: finding (finding_info) and base_event (time); $include: occurrence (start_time)
    assert {"finding_info", "time", "start_time", "metadata"} <= set(finding.attributes)
    assert finding.attributes["cloud"].profile == "cloud"  # base_event's profiles


# ------------------------------------------------------------------ the validator fails when it should


@pytest.fixture
def ecs(alerts):
    return copy.deepcopy(next(a for a in alerts if a.rule_id == "ping_sweep").render("ecs"))


@pytest.fixture
def ocsf(alerts):
    return copy.deepcopy(next(a for a in alerts if a.rule_id == "ping_sweep").render("ocsf"))


def _one(problems: list[str], start: str) -> str:
    found = [p for p in problems if p.startswith(start)]
    assert len(found) == 1, problems
    return found[0]


ECS_BREAKAGES = {
    "unknown field": (lambda d: d["source"].update(hostname="x"), "source.hostname: not an ECS"),
    "unknown top level": (lambda d: d.update(surprise=1), "surprise: not an ECS"),
    "keyword as number": (lambda d: d["rule"].update(id=7), "rule.id: not an ECS keyword"),
    "long as string": (lambda d: d["event"].update(severity="2"), "event.severity: not an ECS long"),
    "bad ip": (lambda d: d["source"].update(ip="10.0.0.300"), "source.ip: not an ECS ip"),
    "ip in array": (lambda d: d["related"]["ip"].append("host-a"), "related.ip: not an ECS ip"),
    "date as epoch": (lambda d: d.update({"@timestamp": 1700000000}), "@timestamp: not an ECS date"),
    "kind not allowed": (lambda d: d["event"].update(kind="finding"), "event.kind: 'finding' is not"),
    "category not allowed": (
        lambda d: d["event"].update(category=["network", "icmp"]),
        "event.category: 'icmp' is not",
    ),
    "array as scalar": (lambda d: d["event"].update(type="info"), "event.type: ECS normalises"),
    "scalar as array": (lambda d: d["source"].update(ip=[d["source"]["ip"]]), "source.ip: ECS normalises"),
    "type unfit for category": (
        lambda d: d["event"].update(type=["indicator"]),
        "event.type: 'indicator' is expected with none",
    ),
    "pattern": (lambda d: d.update(source={"ip": d["source"]["ip"], "mac": "00:11:22:33:44:55"}), "source.mac: "),
    "expected value": (lambda d: d["network"].update(direction="sideways"), "network.direction: 'sideways'"),
    "keyword not indexed": (lambda d: d["rule"].update(name="x" * 1025), "rule.name: longer than"),
    "required missing": (lambda d: d.pop("@timestamp"), "@timestamp: required by ECS"),
    "other version": (lambda d: d["ecs"].update(version="8.11.0"), "ecs.version: '8.11.0'"),
}


@pytest.mark.parametrize("case", ECS_BREAKAGES)
def test_ecs_validator_reports(ecs, case):
    assert ecs_problems(ecs) == []
    breaks, expected = ECS_BREAKAGES[case]
    breaks(ecs)
    _one(ecs_problems(ecs), expected)


def test_ecs_custom_namespace_is_free_but_may_not_clash(ecs):
    ecs["oddping"]["anything"] = {"goes": [1, "x"]}
    assert ecs_problems(ecs) == []
    assert _one(ecs_problems(ecs, custom=("oddping", "dns")), "dns: custom namespace clashes")


OCSF_BREAKAGES = {
    "unknown attribute": (
        lambda d: d["evidences"][0]["connection_info"].update(community_uid="1:x"),
        "evidences[0].connection_info.community_uid: not an attribute of OCSF network_connection_info",
    ),
    "required missing": (lambda d: d["finding_info"].pop("uid"), "finding_info.uid: required"),
    "required object missing": (lambda d: d.pop("metadata"), "metadata: required by OCSF detection_finding"),
    "enum id unknown": (lambda d: d.update(severity_id=7), "severity_id: 7 is not one of its enum ids"),
    "caption differs from id": (lambda d: d.update(severity="Urgent"), "severity: 'Urgent', but severity_id"),
    "class enum": (lambda d: d.update(class_uid=2001), "class_uid: 2001 is not one of"),
    "type_uid arithmetic": (lambda d: d.update(activity_id=2), "type_uid: 200401 is not"),
    "string as integer": (lambda d: d["finding_info"].update(uid=5), "finding_info.uid: not an OCSF string_t"),
    "integer as string": (lambda d: d.update(count="3"), "count: not an OCSF integer_t"),
    "timestamp in seconds": (lambda d: d.update(time=d["time"] // 1000), "time: "),
    "timestamp in nanoseconds": (lambda d: d.update(time=d["time"] * 10**6), "time: "),
    "bad ip": (lambda d: d["evidences"][0]["src_endpoint"].update(ip="10.0.0.300"), "evidences[0].src_endpoint.ip: "),
    "object as string": (lambda d: d["finding_info"].update(analytic="rule"), "finding_info.analytic: OCSF object"),
    "array as object": (lambda d: d.update(evidences=d["evidences"][0]), "evidences: OCSF array"),
    "object constraint": (
        lambda d: d["evidences"][0].update(dst_endpoint={"port": 7}),
        "evidences[0].dst_endpoint: needs at least one of",
    ),
    "profile not declared": (lambda d: d.update(cloud={"provider": "x"}), "cloud: belongs to profile cloud"),
    "declared profile's required attribute": (
        lambda d: d["metadata"].update(profiles=["cloud"]),
        "cloud: required by OCSF detection_finding",
    ),
    "observable value of the wrong type": (
        lambda d: d["observables"][0].update(value="host-a"),
        "observables[0].value: 'host-a' does not match ip_t",
    ),
    "observable names nothing": (
        lambda d: d["observables"][0].update(name="src_endpoint.ip"),
        "observables[0].name: 'src_endpoint.ip' is no attribute of detection_finding",
    ),
    "observable of another type": (
        lambda d: d["observables"][0].update(name="evidences[0].dst_endpoint.hostname"),
        "observables[0].type_id: 2, but evidences[0].dst_endpoint.hostname is observable 1",
    ),
    "other version": (lambda d: d["metadata"].update(version="1.4.0"), "metadata.version: '1.4.0'"),
}


@pytest.mark.parametrize("case", OCSF_BREAKAGES)
def test_ocsf_validator_reports(ocsf, case):
    assert ocsf_problems(ocsf) == []
    breaks, expected = OCSF_BREAKAGES[case]
    breaks(ocsf)
    assert any(p.startswith(expected) for p in ocsf_problems(ocsf)), ocsf_problems(ocsf)


# ------------------------------------------------------------------ campaign alerts


@pytest.fixture(scope="module")
def campaign_alerts():
    """Campaign versions of every status, with and without a known fingerprint: the fleet's
    Footprints campaign (known: Office 365) as it grows, its closed version, one dismissed, and
    an unknown fingerprint's campaign."""
    from fleetkit import fleet
    from recordkit import request, at, syns

    from oddping.config import CampaignSettings
    from processors.alerts import Alert
    from processors.campaign.fingerprint import update_of
    from processors.campaign.stage import CampaignStage

    alerts, _ = scan_records(fleet(20))
    odd = []
    for n in range(3):  # three hosts sending the same unknown 40 bytes at initial TTL 64
        host = f"10.40.0.{n + 1}"
        odd += syns(host, "52.1.1.1", at(n), ttl=62)
        odd += [request(host, "198.51.100.77", at(n + 1 + k), icmp_id=0x4D2, seq=k + 1, ttl=62,
                        payload_class="unknown") for k in range(3)]
    more, _ = scan_records(sorted(odd, key=lambda r: r["ts_ns"]))
    settings = CampaignSettings()
    stage = CampaignStage(settings)
    versions = []
    updates = [u for u in (update_of(a.doc, settings) for a in alerts + more) if u is not None]
    for key, update in updates:
        versions += stage.add(key, update)
    versions += stage.emit_pending() + stage.flush()
    first_host = [(k, u) for k, u in updates if u["host"] == "10.40.0.1"]
    gone = CampaignStage(settings)
    for key, update in [u for u in updates if u[1]["host"].startswith("10.40.")]:
        gone.add(key, update)
    for key, update in first_host:
        versions += gone.add(key, dict(update, status="dismissed"))
    found = [Alert(doc) for doc in versions]
    assert {a.doc["status"] for a in found} == {"open", "closed", "dismissed"}
    assert {a.doc["known"] is None for a in found} == {True, False}
    assert {a.doc["version"] == 1 for a in found} == {True, False}
    return found


def test_campaign_alerts_follow_ecs_8_17(campaign_alerts):
    for alert in campaign_alerts:
        ecs = alert.render("ecs")
        assert ecs_problems(ecs) == [], (alert.doc["status"], alert.doc["version"])
        assert ecs["rule"]["id"] == "campaign" and ecs["event"]["id"] == alert.alert_id
        assert "source" not in ecs  # many sources: their addresses are in related.ip
        assert set(alert.doc["hosts"]) <= set(ecs["related"]["ip"])
        assert ecs["oddping"]["host_count"] == alert.doc["host_count"]


def test_campaign_alerts_are_valid_detection_findings(campaign_alerts):
    for alert in campaign_alerts:
        ocsf = alert.render("ocsf")
        assert ocsf_problems(ocsf) == [], (alert.doc["status"], alert.doc["version"])
        assert ocsf["finding_info"]["analytic"]["uid"] == "campaign"
        assert ocsf["count"] == alert.doc["host_count"]
        assert [e["src_endpoint"]["ip"] for e in ocsf["evidences"] if "src_endpoint" in e] \
            == alert.doc["hosts"]


def test_campaign_renderings_have_the_documented_fields(campaign_alerts):
    from processors.alerts.ecs import CAMPAIGN_ECS_FIELDS
    from processors.alerts.fields import check_fields
    from processors.alerts.ocsf import CAMPAIGN_OCSF_FIELDS

    for alert in campaign_alerts:
        assert check_fields(alert.render("ecs"), CAMPAIGN_ECS_FIELDS) == []
        assert check_fields(alert.render("ocsf"), CAMPAIGN_OCSF_FIELDS) == []
