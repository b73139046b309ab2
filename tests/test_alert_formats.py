"""Alerts validate against schemas/alert.schema.json; the ECS and OCSF renderings carry the
values the mapping promises (processors/alerts/ecs.py, ocsf.py).  Their field names, types and
enums are checked against the upstream ECS and OCSF definitions in test_siem_schemas.py; only the
custom ``oddping.*`` ECS namespace, which ECS leaves to the producer, is checked here against
the project's own list."""

from __future__ import annotations

import copy

import orjson
import pytest
from jsonschema import Draft202012Validator
from recordkit import every_rule

import schemas
from processors import scan_records
from processors.alerts import ECS_FIELDS, FORMATS, iso_ns, parse_iso_ns
from processors.alerts.fields import check_fields, markdown
from processors.rules import RULE_IDS


@pytest.fixture(scope="module")
def alerts():
    found, _ = scan_records(every_rule())
    assert {a.rule_id for a in found} == set(RULE_IDS)  # every rule's alerts are checked
    return found


def test_alert_schema_is_valid_2020_12_and_versioned():
    schema = schemas.load(schemas.ALERT_SCHEMA)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["schema_version"] == {"const": 2}
    assert tuple(schema["properties"]["rule_id"]["enum"]) == RULE_IDS


def test_native_alerts_validate_against_the_schema(alerts):
    for alert in alerts:
        assert schemas.first_error(schemas.ALERT_SCHEMA, alert.doc) is None, alert.rule_id
        # and survive the wire (orjson) unchanged
        assert orjson.loads(alert.to_json()) == alert.doc


def test_schema_rejects_what_it_should(alerts):
    doc = copy.deepcopy(alerts[0].doc)
    doc["severity"] = "urgent"
    assert schemas.first_error(schemas.ALERT_SCHEMA, doc).startswith("severity")
    doc = copy.deepcopy(alerts[0].doc)
    del doc["alert_id"]
    assert "alert_id" in schemas.first_error(schemas.ALERT_SCHEMA, doc)


def test_native_alert_content(alerts):
    for alert in alerts:
        doc = alert.doc
        assert doc["schema_version"] == 2
        assert "\n" not in doc["summary"] and ". " not in doc["summary"]  # one sentence
        assert doc["summary"].startswith(doc["src_ip"] + " ")
        assert doc["first_seen"] <= doc["last_seen"]
        assert doc["window_start"] <= doc["first_seen"] < doc["window_end"]
        assert len(doc["evidence"]) + doc["evidence_omitted"] == doc["packet_count"]


ECS_CUSTOM = {name: spec for name, spec in ECS_FIELDS.items() if name.startswith("oddping.")}


@pytest.mark.parametrize("fmt", ["ecs", "ocsf"])
def test_renderings_survive_the_wire(alerts, fmt):
    for alert in alerts:
        assert orjson.loads(alert.to_json(fmt)) == alert.render(fmt), alert.rule_id


def test_ecs_custom_namespace_has_the_documented_fields_and_types(alerts):
    for alert in alerts:
        custom = {"oddping": alert.render("ecs")["oddping"]}
        assert check_fields(custom, ECS_CUSTOM) == [], alert.rule_id


def test_ecs_values(alerts):
    for alert in alerts:
        ecs = alert.render("ecs")
        assert ecs["@timestamp"] == alert.doc["first_seen"]
        assert ecs["event"]["kind"] == "alert"
        assert ecs["event"]["category"] == ["network", "intrusion_detection"]
        assert ecs["event"]["id"] == alert.alert_id and ecs["rule"]["id"] == alert.rule_id
        assert ecs["source"]["ip"] == alert.src_ip
        assert ecs["network"]["transport"] == "icmp"
        parents = {t.split(".")[0] for t in alert.doc["attack_techniques"]}
        assert set(ecs["threat"]["technique"]["id"]) == parents
    sweep = next(a for a in alerts if a.rule_id == "ping_sweep").render("ecs")
    assert sweep["threat"]["technique"]["subtechnique"]["id"] == ["T1595.001"]
    assert sweep["event"]["duration"] >= 0


def test_ocsf_values(alerts):
    for alert in alerts:
        ocsf = alert.render("ocsf")
        assert (ocsf["class_uid"], ocsf["category_uid"]) == (2004, 2)
        assert ocsf["type_uid"] == 200400 + ocsf["activity_id"]
        assert ocsf["finding_info"]["uid"] == alert.alert_id
        assert ocsf["finding_info"]["analytic"]["uid"] == alert.rule_id
        assert ocsf["severity_id"] == {"low": 2, "medium": 3, "high": 4, "critical": 5}[alert.severity]
        assert ocsf["finding_info"]["first_seen_time"] == parse_iso_ns(alert.doc["first_seen"]) // 10**6
        assert [e["dst_endpoint"]["ip"] for e in ocsf["evidences"]] == alert.doc["dst_ips"]
        assert ocsf["unmapped"]["oddping"]["icmp_id"] == alert.doc["icmp_id"]


def test_field_checker_reports_missing_mistyped_and_undocumented_fields(alerts):
    custom = {"oddping": copy.deepcopy(alerts[0].render("ecs")["oddping"])}
    assert check_fields(custom, ECS_CUSTOM) == []
    del custom["oddping"]["key"]
    custom["oddping"]["dst_ips"] = ["not-an-ip"]
    custom["oddping"]["packet_count"] = "2"
    custom["oddping"]["surprise"] = 1
    problems = check_fields(custom, ECS_CUSTOM)
    assert "oddping.key: missing" in problems
    assert any(p.startswith("oddping.dst_ips: expected ip[]") for p in problems)
    assert any(p.startswith("oddping.packet_count: expected long") for p in problems)
    assert "oddping.surprise: not in the documented field list" in problems


def test_formats_table_and_docs():
    assert set(FORMATS) == {"native", "ecs", "ocsf"}
    table = markdown(ECS_FIELDS)
    assert "| `event.kind` | keyword | yes |" in table


def test_capture_time_formatting_keeps_nanoseconds():
    ts = 1_700_000_000_123_456_789
    assert iso_ns(ts) == "2023-11-14T22:13:20.123456789Z"
    assert parse_iso_ns(iso_ns(ts)) == ts


def test_every_version_is_valid_and_maps_its_lifecycle():
    """Open versions, updates and the closed one: schema-valid, and each format says which."""
    versions, _ = scan_records(every_rule(), all_versions=True)
    assert {a.doc["status"] for a in versions} >= {"open", "closed"}
    seen: dict[str, int] = {}
    for alert in versions:
        doc = alert.doc
        assert schemas.first_error(schemas.ALERT_SCHEMA, doc) is None
        assert doc["version"] == seen.get(alert.alert_id, 0) + 1  # 1, 2, ... per alert_id
        seen[alert.alert_id] = doc["version"]
        ecs, ocsf = alert.render("ecs"), alert.render("ocsf")
        assert check_fields(ecs, ECS_FIELDS) == []  # the upstream checks: test_siem_schemas.py
        assert ecs["event"]["id"] == alert.alert_id
        assert (ecs["oddping"]["version"], ecs["oddping"]["status"]) == (doc["version"], doc["status"])
        expected = ("Create" if doc["version"] == 1
                    else "Update" if doc["status"] == "open" else "Close")
        assert ocsf["activity_name"] == expected
        assert ocsf["finding_info"]["modified_time"] == parse_iso_ns(doc["version_time"]) // 10**6
        assert ocsf["unmapped"]["oddping"]["version"] == doc["version"]


def test_rendered_evidence_keeps_every_field_of_an_evidence_entry():
    """build.py renders evidence entries: a field added to evidence_entry must not be
    dropped from alerts, and keeps its place."""
    from processors.alerts.build import _evidence
    from processors.findings import EVIDENCE_FIELDS, evidence_entry

    record = every_rule()[0]
    entry = evidence_entry(record)
    assert EVIDENCE_FIELDS[0] == "ts_ns"
    assert list(_evidence(entry)) == ["ts", *EVIDENCE_FIELDS[1:]]
    assert list(_evidence({**entry, "note": "why"})) == ["ts", *EVIDENCE_FIELDS[1:], "note"]
    assert {k: v for k, v in _evidence(entry).items() if k != "ts"} == \
        {k: v for k, v in entry.items() if k != "ts_ns"}
