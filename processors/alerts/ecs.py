"""The native alert as an Elastic Common Schema (ECS) document.

Follows the field guide's SIEM conventions: ``event.kind: alert``, ``event.category:
[network, intrusion_detection]``, ``rule.*``, ``source.ip``/``destination.ip``,
``network.transport: icmp``, ``network.community_id``, ``threat.technique.*``; what ECS has no
field for (ICMP identifier and types, evidence packets) lives under the custom ``oddping.*``
namespace.  ``@timestamp`` is the first packet's capture time, so a re-emitted (updated) alert
keeps its @timestamp and lands in the same backing index of an Elasticsearch data stream, where
indexing with ``_id = event.id`` overwrites the earlier version.  The version itself (its
number, ``open``/``closed``/``dismissed`` status and event time) is ``oddping.version``,
``oddping.status`` and ``oddping.version_time``: ECS has no field for an alert's revision.

A campaign alert (``kind: campaign``, processors/campaign/stage.py: one behaviour on many hosts)
is the same kind of ECS alert with ``rule.id: campaign``: no ``source.ip`` (it has many
sources), ``related.ip`` holds its listed hosts and their destinations, and the fingerprint,
host count, hosts, growth and the known fleet software it matches (with its public source: a
citation, not the URL ``event.reference`` wants) live under ``oddping.*`` (CAMPAIGN_ECS_FIELDS).
"""

from __future__ import annotations

from typing import Any

from processors.alerts.attack import technique
from processors.alerts.build import parse_iso_ns
from processors.alerts.fields import FieldSpec

ECS_VERSION = "8.17.0"

#: event.severity: 1 (low) .. 4 (critical); event.risk_score: Elastic's default risk scores
SEVERITY_NUMBER = {"low": 1, "medium": 2, "high": 3, "critical": 4}
RISK_SCORE = {"low": 21.0, "medium": 47.0, "high": 73.0, "critical": 99.0}

F = FieldSpec
#: the fields every alert has in ECS, host or campaign alike (_head)
HEAD_FIELDS: dict[str, FieldSpec] = {
    "@timestamp": F("date", True, "first_seen"),
    "message": F("text", True, "summary"),
    "tags": F("keyword[]", True, '["oddping", rule_id]'),
    "ecs.version": F("keyword", True, f'"{ECS_VERSION}"'),
    "event.kind": F("keyword", True, '"alert"'),
    "event.category": F("keyword[]", True, '["network", "intrusion_detection"]'),
    "event.type": F("keyword[]", True, '["info"]'),
    "event.id": F("keyword", True, "alert_id"),
    "event.severity": F("long", True, "severity: low 1, medium 2, high 3, critical 4"),
    "event.risk_score": F("float", True, "severity: low 21, medium 47, high 73, critical 99"),
    "event.start": F("date", True, "first_seen"),
    "event.end": F("date", True, "last_seen"),
    "event.duration": F("long", True, "last_seen - first_seen, nanoseconds"),
    "event.dataset": F("keyword", True, '"oddping.alert"'),
    "event.module": F("keyword", True, '"oddping"'),
    "event.provider": F("keyword", True, '"oddping"'),
}

#: which version of which alert a document is, under oddping.* (host or campaign alike)
VERSION_FIELDS: dict[str, FieldSpec] = {
    "oddping.schema_version": F("long", True, "schema_version"),
    "oddping.alert_id": F("keyword", True, "alert_id"),
    "oddping.version": F("long", True, "version (the highest wins)"),
    "oddping.status": F("keyword", True, "status: open, closed or dismissed"),
    "oddping.version_time": F("date", True, "version_time"),
    "oddping.severity": F("keyword", True, "severity"),
}

ECS_FIELDS: dict[str, FieldSpec] = {
    **HEAD_FIELDS,
    "rule.id": F("keyword", True, "rule_id"),
    "rule.name": F("keyword", True, "rule_name"),
    "rule.version": F("keyword", False, "rule_rev"),
    "rule.description": F("keyword", False, "rule_description"),
    "rule.category": F("keyword", True, '"ICMP echo"'),
    "rule.ruleset": F("keyword", True, '"oddping"'),
    "rule.reference": F("keyword", False, "rule_reference"),
    "source.ip": F("ip", True, "src_ip"),
    "destination.ip": F("ip", False, "dst_ips[0]"),
    "related.ip": F("ip[]", True, "src_ip + dst_ips"),
    "network.transport": F("keyword", True, '"icmp" (IPv4) or "ipv6-icmp"'),
    "network.type": F("keyword", True, '"ipv4" or "ipv6"'),
    "network.community_id": F("keyword", False, "community_id"),
    "observer.name": F("keyword", False, "sensor_ids[0]"),
    "observer.type": F("keyword", True, '"sensor"'),
    "observer.product": F("keyword", True, '"oddping"'),
    "threat.framework": F("keyword", True, '"MITRE ATT&CK"'),
    "threat.technique.id": F("keyword[]", True, "attack_techniques (parent ids)"),
    "threat.technique.name": F("keyword[]", True, "their names"),
    "threat.technique.reference": F("keyword[]", True, "their URLs"),
    "threat.technique.subtechnique.id": F("keyword[]", False, "attack_techniques with a dot"),
    "threat.technique.subtechnique.name": F("keyword[]", False, "their names"),
    "threat.tactic.id": F("keyword[]", True, "the techniques' tactics"),
    "threat.tactic.name": F("keyword[]", True, "their names"),
    **VERSION_FIELDS,
    "oddping.key": F("keyword", True, "key"),
    "oddping.dst_ips": F("ip[]", True, "dst_ips"),
    "oddping.dst_ips_truncated": F("boolean", True, "dst_ips_truncated"),
    "oddping.sensor_ids": F("keyword[]", True, "sensor_ids"),
    "oddping.packet_count": F("long", True, "packet_count"),
    "oddping.window.start": F("date", True, "window_start"),
    "oddping.window.end": F("date", True, "window_end"),
    "oddping.icmp.id": F("long", False, "icmp_id (absent when null)"),
    "oddping.icmp.types": F("long[]", True, "icmp_types"),
    "oddping.icmp.seq_min": F("long", False, "icmp_seq_min"),
    "oddping.icmp.seq_max": F("long", False, "icmp_seq_max"),
    "oddping.ttl.min": F("long", True, "ttl_min"),
    "oddping.ttl.max": F("long", True, "ttl_max"),
    "oddping.payload.classes": F("keyword[]", True, "payload_classes"),
    "oddping.payload.len_min": F("long", True, "payload_len_min"),
    "oddping.payload.len_max": F("long", True, "payload_len_max"),
    "oddping.details": F("object", True, "details (rule-specific facts)"),
    "oddping.evidence": F("object[]", True, "evidence (packets, bounded)"),
    "oddping.evidence_omitted": F("long", True, "evidence_omitted"),
}


def _threat(technique_ids: list[str]) -> dict[str, Any]:
    techniques = [technique(t) for t in technique_ids]
    parents = list(dict.fromkeys(t.parent_id for t in techniques))
    subs = [t for t in techniques if t.is_subtechnique]
    tactics = list(dict.fromkeys((t.tactic_id, t.tactic) for t in techniques))
    threat: dict[str, Any] = {
        "framework": "MITRE ATT&CK",
        "technique": {
            "id": parents,
            "name": [technique(p).name for p in parents],
            "reference": [technique(p).url for p in parents],
        },
        "tactic": {"id": [t[0] for t in tactics], "name": [t[1] for t in tactics]},
    }
    if subs:
        threat["technique"]["subtechnique"] = {
            "id": [t.id for t in subs],
            "name": [t.name for t in subs],
        }
    return threat


def _drop_none(mapping: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if v is not None}


def _head(alert: dict[str, Any]) -> dict[str, Any]:
    """What every oddping alert says in ECS, host or campaign alike: when, what, which event."""
    return {
        "@timestamp": alert["first_seen"],
        "message": alert["summary"],
        "tags": ["oddping", alert["rule_id"]],
        "ecs": {"version": ECS_VERSION},
        "event": {
            "kind": "alert",
            "category": ["network", "intrusion_detection"],
            "type": ["info"],
            "id": alert["alert_id"],
            "severity": SEVERITY_NUMBER[alert["severity"]],
            "risk_score": RISK_SCORE[alert["severity"]],
            "start": alert["first_seen"],
            "end": alert["last_seen"],
            "duration": _duration_ns(alert),
            "dataset": "oddping.alert",
            "module": "oddping",
            "provider": "oddping",
        },
    }


def to_ecs(alert: dict[str, Any]) -> dict[str, Any]:
    if alert.get("kind") == "campaign":
        return campaign_to_ecs(alert)
    first_dst = alert["dst_ips"][0] if alert["dst_ips"] else None
    v6 = alert["ip_version"] == 6

    return {
        **_head(alert),
        "rule": _drop_none(
            {
                "id": alert["rule_id"],
                "name": alert["rule_name"],
                "version": str(alert["rule_rev"]) if "rule_rev" in alert else None,
                "description": alert.get("rule_description"),
                "category": "ICMP echo",
                "ruleset": "oddping",
                "reference": alert.get("rule_reference"),
            }
        ),
        "source": {"ip": alert["src_ip"]},
        **({"destination": {"ip": first_dst}} if first_dst else {}),
        "related": {"ip": list(dict.fromkeys([alert["src_ip"], *alert["dst_ips"]]))},
        "network": _drop_none(
            {
                "transport": "ipv6-icmp" if v6 else "icmp",
                "type": "ipv6" if v6 else "ipv4",
                "community_id": alert["community_id"],
            }
        ),
        "observer": _drop_none(
            {
                "name": alert["sensor_ids"][0] if alert["sensor_ids"] else None,
                "type": "sensor",
                "product": "oddping",
            }
        ),
        "threat": _threat(alert["attack_techniques"]),
        "oddping": {
            "schema_version": alert["schema_version"],
            "alert_id": alert["alert_id"],
            "version": alert["version"],
            "status": alert["status"],
            "version_time": alert["version_time"],
            "severity": alert["severity"],
            "key": alert["key"],
            "dst_ips": alert["dst_ips"],
            "dst_ips_truncated": alert["dst_ips_truncated"],
            "sensor_ids": alert["sensor_ids"],
            "packet_count": alert["packet_count"],
            "window": {"start": alert["window_start"], "end": alert["window_end"]},
            "icmp": _drop_none(
                {
                    "id": alert["icmp_id"],
                    "types": alert["icmp_types"],
                    "seq_min": alert["icmp_seq_min"],
                    "seq_max": alert["icmp_seq_max"],
                }
            ),
            "ttl": {"min": alert["ttl_min"], "max": alert["ttl_max"]},
            "payload": {
                "classes": alert["payload_classes"],
                "len_min": alert["payload_len_min"],
                "len_max": alert["payload_len_max"],
            },
            "details": alert["details"],
            "evidence": alert["evidence"],
            "evidence_omitted": alert["evidence_omitted"],
        },
    }


def _duration_ns(alert: dict[str, Any]) -> int:
    return parse_iso_ns(alert["last_seen"]) - parse_iso_ns(alert["first_seen"])


#: a campaign alert's ECS document (to_ecs of a ``kind: campaign`` alert)
CAMPAIGN_ECS_FIELDS: dict[str, FieldSpec] = {
    **HEAD_FIELDS,
    "tags": F("keyword[]", True, '["oddping", "campaign"]'),
    "event.dataset": F("keyword", True, '"oddping.alert" (the host alerts\' data stream)'),
    "rule.id": F("keyword", True, '"campaign"'),
    "rule.name": F("keyword", True, "rule_name"),
    "rule.category": F("keyword", True, '"ICMP echo"'),
    "rule.ruleset": F("keyword", True, '"oddping"'),
    "related.ip": F("ip[]", True, "hosts + dst_ips"),
    "network.transport": F("keyword", True, '"icmp" (IPv4) or "ipv6-icmp"'),
    "network.type": F("keyword", True, '"ipv4" or "ipv6" (fingerprint.ip_version)'),
    "observer.type": F("keyword", True, '"sensor"'),
    "observer.product": F("keyword", True, '"oddping"'),
    "oddping.kind": F("keyword", True, '"campaign"'),
    **VERSION_FIELDS,
    "oddping.fingerprint_id": F("keyword", True, "fingerprint_id"),
    "oddping.fingerprint": F("object", True, "fingerprint (payload, lengths, TTL, prefixes, ids)"),
    "oddping.host_count": F("long", True, "host_count"),
    "oddping.hosts": F("ip[]", True, "hosts (the first campaigns.host_list_limit)"),
    "oddping.hosts_truncated": F("boolean", True, "hosts_truncated"),
    "oddping.behaviour_ids": F("keyword[]", True, "behaviour_ids (the host alerts' behaviour_id)"),
    "oddping.dst_ips": F("ip[]", True, "dst_ips"),
    "oddping.window.start": F("date", True, "window_start"),
    "oddping.rules": F("keyword[]", True, "rules"),
    "oddping.growth": F("object[]", True, "growth"),
    "oddping.known": F("object", False, "known (absent when null)"),
}


def campaign_to_ecs(alert: dict[str, Any]) -> dict[str, Any]:
    """A campaign alert as an ECS alert (see the module's text)."""
    v6 = alert["fingerprint"]["ip_version"] == 6
    known = alert["known"]
    return {
        **_head(alert),
        "rule": {"id": alert["rule_id"], "name": alert["rule_name"], "category": "ICMP echo",
                 "ruleset": "oddping"},
        "related": {"ip": list(dict.fromkeys([*alert["hosts"], *alert["dst_ips"]]))},
        "network": {"transport": "ipv6-icmp" if v6 else "icmp", "type": "ipv6" if v6 else "ipv4"},
        "observer": {"type": "sensor", "product": "oddping"},
        "oddping": _drop_none({
            "kind": alert["kind"],
            "schema_version": alert["schema_version"],
            "alert_id": alert["alert_id"],
            "version": alert["version"],
            "status": alert["status"],
            "version_time": alert["version_time"],
            "severity": alert["severity"],
            "fingerprint_id": alert["fingerprint_id"],
            "fingerprint": alert["fingerprint"],
            "host_count": alert["host_count"],
            "hosts": alert["hosts"],
            "hosts_truncated": alert["hosts_truncated"],
            "behaviour_ids": alert["behaviour_ids"],
            "dst_ips": alert["dst_ips"],
            "window": {"start": alert["window_start"]},
            "rules": alert["rules"],
            "growth": alert["growth"],
            "known": known,
        }),
    }
