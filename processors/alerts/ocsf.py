"""The native alert as an OCSF Detection Finding (class_uid 2004, category 2).

The alert's lifecycle (processors/lifecycle.py) is the finding's activity: version 1 is Create,
later open versions Update, the final version Close (Create when it is also the first); ``finding_info.modified_time`` is the
version's time.  ``status`` stays the analyst's workflow status, which oddping does not own:
New, except a dismissed alert (a rule explained it away after open versions went out), which is
Suppressed.  The native ``version``, ``status`` and ``version_time`` are in ``unmapped.oddping``.

``time`` and the ``*_time`` fields are OCSF timestamps (integer milliseconds since the epoch);
the native ISO values with nanoseconds stay in ``unmapped.oddping``.  One evidence artifact per
destination carries ``src_endpoint``, ``dst_endpoint`` and ``connection_info`` (protocol; the
Community ID stays in ``unmapped.oddping``: OCSF 1.3.0 has no attribute for it).  ``finding_info.uid`` is the alert id: a re-emitted alert updates its finding.

A campaign alert (``kind: campaign``: one behaviour on many hosts, processors/campaign/stage.py)
is a Detection Finding too, its analytic the ``campaign`` rule: one evidence artifact per listed
host (``src_endpoint``) and one per destination (``dst_endpoint``), each an IP Address
observable; ``count`` is its host count; the fingerprint, hosts, growth and known software stay
in ``unmapped.oddping`` (CAMPAIGN_OCSF_FIELDS).  OCSF 1.3.0 has no attribute for "these hosts
share one behaviour" beyond the finding itself.
"""

from __future__ import annotations

from typing import Any

import oddping
from processors.alerts.attack import technique
from processors.alerts.build import parse_iso_ns
from processors.alerts.fields import FieldSpec

OCSF_VERSION = "1.3.0"
CLASS_UID = 2004
CATEGORY_UID = 2
ACTIVITY_CREATE = 1
TYPE_UID = CLASS_UID * 100 + ACTIVITY_CREATE  # 200401
#: activity_id -> activity_name (Detection Finding: 1 Create, 2 Update, 3 Close)
ACTIVITIES = {1: "Create", 2: "Update", 3: "Close"}
#: native status -> (status_id, status): the workflow status a new finding has
STATUS = {"open": (1, "New"), "closed": (1, "New"), "dismissed": (3, "Suppressed")}


def _activity(alert: dict[str, Any]) -> int:
    """Create for the first version (also when it is the final one, as in ``oddping scan``:
    a consumer must see a Create for every finding), then Update while open, Close at the end."""
    if alert["version"] == 1:
        return ACTIVITY_CREATE
    return 2 if alert["status"] == "open" else 3

SEVERITY_ID = {"low": 2, "medium": 3, "high": 4, "critical": 5}
SEVERITY_NAME = {"low": "Low", "medium": "Medium", "high": "High", "critical": "Critical"}
IP_ADDRESS_TYPE_ID = 2

F = FieldSpec
OCSF_FIELDS: dict[str, FieldSpec] = {
    "class_uid": F("long", True, "2004"),
    "class_name": F("keyword", True, '"Detection Finding"'),
    "category_uid": F("long", True, "2"),
    "category_name": F("keyword", True, '"Findings"'),
    "activity_id": F("long", True, "1 (Create) for version 1, then 2 (Update) while open, 3 (Close) for the final"),
    "activity_name": F("keyword", True, '"Create", "Update" or "Close"'),
    "type_uid": F("long", True, "200400 + activity_id"),
    "type_name": F("keyword", True, '"Detection Finding: " + activity_name'),
    "severity_id": F("long", True, "severity: low 2, medium 3, high 4, critical 5"),
    "severity": F("keyword", True, "severity, capitalised"),
    "status_id": F("long", True, "1 (New); 3 (Suppressed) when status is dismissed"),
    "status": F("keyword", True, '"New" or "Suppressed"'),
    "time": F("timestamp_ms", True, "last_seen"),
    "start_time": F("timestamp_ms", True, "first_seen"),
    "end_time": F("timestamp_ms", True, "last_seen"),
    "count": F("long", True, "packet_count"),
    "message": F("text", True, "summary"),
    "metadata.version": F("keyword", True, f'"{OCSF_VERSION}"'),
    "metadata.uid": F("keyword", True, "alert_id"),
    "metadata.product.name": F("keyword", True, '"oddping"'),
    "metadata.product.vendor_name": F("keyword", True, '"oddping"'),
    "metadata.product.version": F("keyword", True, "oddping's version"),
    "metadata.labels": F("keyword[]", True, "[rule_id]"),
    "finding_info.uid": F("keyword", True, "alert_id"),
    "finding_info.title": F("keyword", True, "rule_name"),
    "finding_info.desc": F("text", True, "summary"),
    "finding_info.types": F("keyword[]", True, "[rule_id]"),
    "finding_info.first_seen_time": F("timestamp_ms", True, "first_seen"),
    "finding_info.last_seen_time": F("timestamp_ms", True, "last_seen"),
    "finding_info.modified_time": F("timestamp_ms", True, "version_time"),
    "finding_info.data_sources": F("keyword[]", True, '["network traffic: ICMP echo"]'),
    "finding_info.analytic.uid": F("keyword", True, "rule_id"),
    "finding_info.analytic.name": F("keyword", True, "rule_name"),
    "finding_info.analytic.desc": F("text", True, "rule_description (rule_name if absent)"),
    "finding_info.analytic.type_id": F("long", True, "1 (Rule)"),
    "finding_info.analytic.type": F("keyword", True, '"Rule"'),
    "finding_info.analytic.version": F("keyword", False, "rule_rev"),
    "finding_info.attacks": F("object[]", True, "attack_techniques"),
    "finding_info.attacks[].technique.uid": F("keyword", True, "technique id (parent)"),
    "finding_info.attacks[].technique.name": F("keyword", True, "technique name"),
    "finding_info.attacks[].sub_technique.uid": F("keyword", False, "sub-technique id"),
    "finding_info.attacks[].sub_technique.name": F("keyword", False, "sub-technique name"),
    "finding_info.attacks[].tactic.uid": F("keyword", True, "tactic id"),
    "finding_info.attacks[].tactic.name": F("keyword", True, "tactic name"),
    "evidences": F("object[]", True, "one artifact per destination in dst_ips"),
    "evidences[].src_endpoint.ip": F("ip", True, "src_ip"),
    "evidences[].dst_endpoint.ip": F("ip", True, "dst_ips[i]"),
    "evidences[].connection_info.protocol_name": F("keyword", True, '"icmp" or "ipv6-icmp"'),
    "evidences[].connection_info.protocol_num": F("long", True, "1 or 58"),
    "evidences[].connection_info.protocol_ver_id": F("long", True, "ip_version"),
    "evidences[].connection_info.direction_id": F("long", True, "0 (Unknown): OCSF requires it"),
    "evidences[].connection_info.direction": F("keyword", True, '"Unknown"'),
    "observables": F("object[]", True, "src_ip and dst_ips as IP Address observables"),
    "observables[].name": F("keyword", True, '"evidences[].src_endpoint.ip" / "evidences[].dst_endpoint.ip"'),
    "observables[].type_id": F("long", True, "2 (IP Address)"),
    "observables[].type": F("keyword", True, '"IP Address"'),
    "observables[].value": F("ip", True, "the address"),
    "unmapped.oddping": F("object", True, "the native alert's other fields (icmp_id, evidence ...)"),
}


def _attacks(technique_ids: list[str]) -> list[dict[str, Any]]:
    attacks = []
    for technique_id in technique_ids:
        t = technique(technique_id)
        parent = technique(t.parent_id)
        attack: dict[str, Any] = {
            "technique": {"uid": parent.id, "name": parent.name},
            "tactic": {"uid": t.tactic_id, "name": t.tactic},
        }
        if t.is_subtechnique:
            attack["sub_technique"] = {"uid": t.id, "name": t.name}
        attacks.append(attack)
    return attacks


_UNMAPPED = (
    "version",
    "status",
    "version_time",
    "schema_version",
    "key",
    "icmp_id",
    "icmp_types",
    "icmp_seq_min",
    "icmp_seq_max",
    "ttl_min",
    "ttl_max",
    "payload_classes",
    "payload_len_min",
    "payload_len_max",
    "sensor_ids",
    "first_seen",
    "last_seen",
    "window_start",
    "window_end",
    "dst_ips_truncated",
    "community_id",  # OCSF 1.3.0 has no Community ID attribute (community_uid came later)
    "details",
    "evidence",
    "evidence_omitted",
)


def to_ocsf(alert: dict[str, Any]) -> dict[str, Any]:
    if alert.get("kind") == "campaign":
        return campaign_to_ocsf(alert)
    first_ms = parse_iso_ns(alert["first_seen"]) // 1_000_000
    last_ms = parse_iso_ns(alert["last_seen"]) // 1_000_000
    v6 = alert["ip_version"] == 6
    connection: dict[str, Any] = {
        "protocol_name": "ipv6-icmp" if v6 else "icmp",
        "protocol_num": 58 if v6 else 1,
        "protocol_ver_id": alert["ip_version"],
        # required by OCSF; whether the source is inside the monitored network is not known here
        "direction_id": 0,
        "direction": "Unknown",
    }
    return {
        **_head(alert, first_ms, last_ms),
        "count": alert["packet_count"],
        "message": alert["summary"],
        "metadata": _metadata(alert),
        "finding_info": {
            **_finding_basics(alert, first_ms, last_ms),
            "analytic": {
                "uid": alert["rule_id"],
                "name": alert["rule_name"],
                "desc": alert.get("rule_description") or alert["rule_name"],
                "type_id": 1,
                "type": "Rule",
                **({"version": str(alert["rule_rev"])} if "rule_rev" in alert else {}),
            },
            "attacks": _attacks(alert["attack_techniques"]),
        },
        "evidences": [
            {
                "src_endpoint": {"ip": alert["src_ip"]},
                "dst_endpoint": {"ip": dst},
                "connection_info": dict(connection),
            }
            for dst in alert["dst_ips"]
        ],
        "observables": [
            {"name": "evidences[].src_endpoint.ip", "type_id": IP_ADDRESS_TYPE_ID, "type": "IP Address", "value": alert["src_ip"]}
        ]
        + [
            {"name": "evidences[].dst_endpoint.ip", "type_id": IP_ADDRESS_TYPE_ID, "type": "IP Address", "value": dst}
            for dst in alert["dst_ips"]
        ],
        "unmapped": {"oddping": {name: alert[name] for name in _UNMAPPED}},
    }


#: a campaign alert's OCSF document (to_ocsf of a ``kind: campaign`` alert): the host
#: alert's fields, but for these
CAMPAIGN_OCSF_FIELDS: dict[str, FieldSpec] = {
    **{name: spec for name, spec in OCSF_FIELDS.items()
       if not name.startswith(("finding_info.attacks", "evidences", "observables"))
       and name not in ("count", "finding_info.analytic.version")},
    "count": F("long", True, "host_count"),
    "finding_info.analytic.desc": F("text", True, "rule_name"),
    "evidences": F("object[]", True, "one artifact per listed host, then one per destination"),
    "evidences[].src_endpoint.ip": F("ip", False, "hosts[i]"),
    "evidences[].dst_endpoint.ip": F("ip", False, "dst_ips[i]"),
    "evidences[].connection_info.protocol_name": F("keyword", True, '"icmp" or "ipv6-icmp"'),
    "evidences[].connection_info.protocol_num": F("long", True, "1 or 58"),
    "evidences[].connection_info.protocol_ver_id": F("long", True, "fingerprint.ip_version"),
    "evidences[].connection_info.direction_id": F("long", True, "0 (Unknown): OCSF requires it"),
    "evidences[].connection_info.direction": F("keyword", True, '"Unknown"'),
    "observables": F("object[]", True, "hosts and dst_ips as IP Address observables"),
    "observables[].name": F("keyword", True, '"evidences[].src_endpoint.ip" / "evidences[].dst_endpoint.ip"'),
    "observables[].type_id": F("long", True, "2 (IP Address)"),
    "observables[].type": F("keyword", True, '"IP Address"'),
    "observables[].value": F("ip", True, "the address"),
    "unmapped.oddping": F("object", True, "the campaign's other fields (fingerprint, hosts ...)"),
}

_CAMPAIGN_UNMAPPED = (
    "kind", "version", "status", "version_time", "schema_version", "fingerprint_id",
    "fingerprint", "host_count", "hosts", "hosts_truncated", "behaviour_ids", "dst_ips",
    "first_seen", "last_seen", "window_start", "rules", "growth", "known",
)


def _head(alert: dict[str, Any], first_ms: int, last_ms: int) -> dict[str, Any]:
    """What every oddping finding says in OCSF, host or campaign alike: its class, activity,
    severity, status and times."""
    activity = _activity(alert)
    status_id, status = STATUS[alert["status"]]
    return {
        "class_uid": CLASS_UID,
        "class_name": "Detection Finding",
        "category_uid": CATEGORY_UID,
        "category_name": "Findings",
        "activity_id": activity,
        "activity_name": ACTIVITIES[activity],
        "type_uid": CLASS_UID * 100 + activity,
        "type_name": f"Detection Finding: {ACTIVITIES[activity]}",
        "severity_id": SEVERITY_ID[alert["severity"]],
        "severity": SEVERITY_NAME[alert["severity"]],
        "status_id": status_id,
        "status": status,
        "time": last_ms,
        "start_time": first_ms,
        "end_time": last_ms,
    }


def _metadata(alert: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": OCSF_VERSION,
        "uid": alert["alert_id"],
        "product": {"name": "oddping", "vendor_name": "oddping", "version": oddping.__version__},
        "labels": [alert["rule_id"]],
    }


def _finding_basics(alert: dict[str, Any], first_ms: int, last_ms: int) -> dict[str, Any]:
    """finding_info's fields every oddping finding has (its analytic and attacks differ)."""
    return {
        "uid": alert["alert_id"],
        "title": alert["rule_name"],
        "desc": alert["summary"],
        "types": [alert["rule_id"]],
        "first_seen_time": first_ms,
        "last_seen_time": last_ms,
        "modified_time": parse_iso_ns(alert["version_time"]) // 1_000_000,
        "data_sources": ["network traffic: ICMP echo"],
    }


def campaign_to_ocsf(alert: dict[str, Any]) -> dict[str, Any]:
    """A campaign alert as an OCSF Detection Finding (see the module's text)."""
    first_ms = parse_iso_ns(alert["first_seen"]) // 1_000_000
    last_ms = parse_iso_ns(alert["last_seen"]) // 1_000_000
    ip_version = alert["fingerprint"]["ip_version"]
    v6 = ip_version == 6
    connection = {"protocol_name": "ipv6-icmp" if v6 else "icmp", "protocol_num": 58 if v6 else 1,
                  "protocol_ver_id": ip_version, "direction_id": 0, "direction": "Unknown"}
    return {
        **_head(alert, first_ms, last_ms),
        "count": alert["host_count"],
        "message": alert["summary"],
        "metadata": _metadata(alert),
        "finding_info": {
            **_finding_basics(alert, first_ms, last_ms),
            "analytic": {"uid": alert["rule_id"], "name": alert["rule_name"],
                         "desc": alert["rule_name"], "type_id": 1, "type": "Rule"},
        },
        "evidences": [{"src_endpoint": {"ip": host}, "connection_info": dict(connection)}
                      for host in alert["hosts"]]
        + [{"dst_endpoint": {"ip": dst}, "connection_info": dict(connection)}
           for dst in alert["dst_ips"]],
        "observables": [
            {"name": "evidences[].src_endpoint.ip", "type_id": IP_ADDRESS_TYPE_ID,
             "type": "IP Address", "value": host} for host in alert["hosts"]]
        + [{"name": "evidences[].dst_endpoint.ip", "type_id": IP_ADDRESS_TYPE_ID,
            "type": "IP Address", "value": dst} for dst in alert["dst_ips"]],
        "unmapped": {"oddping": {name: alert[name] for name in _CAMPAIGN_UNMAPPED}},
    }
