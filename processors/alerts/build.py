"""From a closed alert window to the native alert document (schemas/alert.schema.json).

The native document is the canonical alert: ECS and OCSF are mappings of it, so an alert read
back from the topic can be re-rendered in any format.  Everything in it comes from capture time
and the evidence, never from the clock, so the same window always gives the same document.
"""

from __future__ import annotations

import uuid
from functools import lru_cache
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from oddping import ALERT_SCHEMA_VERSION
from processors.findings import EVIDENCE_FIELDS, AlertWindow, evidence_dict

if TYPE_CHECKING:  # alerts never import the rules at run time: rules may import alerts
    from processors.ruleskit.base import RuleMetadata

#: uuid5 namespace for alert ids: alert_id = uuid5(ALERT_NAMESPACE, "rule|host|key|window start")
ALERT_NAMESPACE = uuid.UUID("6f64a3a0-9c1e-5d2b-8f4e-0dd0a1e27001")

NS_PER_S = 1_000_000_000
#: an evidence row's fields (processors/findings.py evidence_row), the note after them
_ROW_LEN = len(EVIDENCE_FIELDS)


@lru_cache(maxsize=1 << 16)
def alert_id(rule_id: str, host: str, key: str, window_start_ns: int) -> str:
    """Deterministic: the same finding (rule, host, key, window) always gets the same id.
    Cached: every version of an alert asks again, and uuid5 costs a few µs."""
    return str(uuid.uuid5(ALERT_NAMESPACE, f"{rule_id}|{host}|{key}|{window_start_ns}"))


@lru_cache(maxsize=4096)
def _iso_second(seconds: int) -> str:
    return f"{datetime.fromtimestamp(seconds, timezone.utc):%Y-%m-%dT%H:%M:%S}"


def iso_ns(ts_ns: int) -> str:
    """Capture time as ISO 8601 UTC with nanoseconds: 2024-05-01T12:00:00.123456789Z."""
    seconds, nanos = divmod(ts_ns, NS_PER_S)
    return f"{_iso_second(seconds)}.{nanos:09d}Z"


def parse_iso_ns(text: str) -> int:
    """The inverse of iso_ns, exact to the nanosecond (datetime stops at microseconds)."""
    whole, _, fraction = text.rstrip("Z").partition(".")
    return _parse_second(whole) * NS_PER_S + int(fraction.ljust(9, "0")[:9] or 0)


@lru_cache(maxsize=4096)
def _parse_second(whole: str) -> int:
    # strptime costs ~30 µs, and every alert version parses its window's start again (campaign
    # keys); fromisoformat is C, but it also takes offsets, dates alone and other separators,
    # so only the exact shape iso_ns writes goes that way
    if len(whole) == 19 and whole[10] == "T":
        moment = datetime.fromisoformat(whole)
    else:
        moment = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S")
    return int(moment.replace(tzinfo=timezone.utc).timestamp())


def _evidence(row: Any) -> dict[str, Any]:
    """An evidence row as the alert shows it: ts (ISO) first, then the other fields in
    EVIDENCE_FIELDS order, then the note.  Every version of an alert renders every row again
    (the worker sends an open version per update interval), so a row kept as a tuple (nearly
    all) is rendered in one dict display, not through evidence_dict and a copy."""
    if type(row) is tuple and len(row) >= _ROW_LEN:
        (ts_ns, frame, sensor_id, src_ip, dst_ip, icmp_type, icmp_code, icmp_id, icmp_seq, ttl,
         payload_len, payload_class, payload_sha256, community_id) = row[:_ROW_LEN]
        out = {
            "ts": iso_ns(ts_ns), "frame": frame, "sensor_id": sensor_id, "src_ip": src_ip,
            "dst_ip": dst_ip, "icmp_type": icmp_type, "icmp_code": icmp_code, "icmp_id": icmp_id,
            "icmp_seq": icmp_seq, "ttl": ttl, "payload_len": payload_len,
            "payload_class": payload_class, "payload_sha256": payload_sha256,
            "community_id": community_id,
        }
        if len(row) > _ROW_LEN:
            out["note"] = row[_ROW_LEN]
        return out
    entry = evidence_dict(row)
    out = {"ts": iso_ns(entry["ts_ns"])}
    out.update(entry)
    del out["ts_ns"]
    return out


def _rendered_evidence(window: AlertWindow) -> list[dict[str, Any]]:
    """The window's evidence rows rendered, reusing what the previous version rendered of the
    rows still there (the same tuple: a row another sensor's copy credited has become a dict,
    which may change again, so dict rows are rendered every time).  Versions share the
    rendered dicts: nothing changes an alert document once built."""
    cache = window.rendered
    if cache is None:
        cache = window.rendered = []
    out = []
    for index, row in enumerate(window.evidence):
        if index < len(cache):
            held, rendered = cache[index]
            if held is row:
                out.append(rendered)
                continue
        rendered = _evidence(row)
        entry = (row, rendered) if type(row) is tuple else (None, None)
        if index < len(cache):
            cache[index] = entry
        else:
            cache.append(entry)
        out.append(rendered)
    return out


def build_alert(
    window: AlertWindow, meta: RuleMetadata, severity: str, summary: str, status: str = "closed"
) -> dict[str, Any]:
    """The native alert document for a window, as its latest version (window.version, made at
    event time window.version_ns; processors/lifecycle.py).  What the ECS and OCSF renderings
    need of the rule's metadata is copied into it here, so they never consult the registry."""
    return {
        "schema_version": ALERT_SCHEMA_VERSION,
        "alert_id": alert_id(window.rule_id, window.host, window.key, window.start_ns),
        "version": window.version,
        "status": status,
        "version_time": iso_ns(window.version_ns),
        "rule_id": window.rule_id,
        "rule_name": meta.title,
        "rule_status": meta.status,
        "rule_rev": meta.rev,
        "rule_description": meta.description,
        "rule_reference": meta.urls[0] if meta.urls else None,
        "severity": severity,
        "summary": summary,
        "src_ip": window.host,
        "dst_ips": list(window.dst_ips),
        "dst_ips_truncated": window.dst_ips_truncated,
        "icmp_id": window.icmp_ids[0] if len(window.icmp_ids) == 1 else None,
        "first_seen": iso_ns(window.first_ns),
        "last_seen": iso_ns(window.last_ns),
        "window_start": iso_ns(window.start_ns),
        "window_end": iso_ns(window.end_ns),
        "packet_count": window.count,
        "sensor_ids": list(window.sensor_ids),
        "ip_version": window.ip_version,
        "icmp_types": sorted(window.icmp_types),
        "payload_classes": list(window.payload_classes),
        "payload_len_min": window.len_min,
        "payload_len_max": window.len_max,
        "ttl_min": window.ttl_min,
        "ttl_max": window.ttl_max,
        "icmp_seq_min": window.seq_min,
        "icmp_seq_max": window.seq_max,
        "community_id": window.community_id,
        "attack_techniques": list(meta.attack),
        "key": window.key,
        "details": dict(window.facts),
        "evidence": _rendered_evidence(window),
        "evidence_omitted": window.evidence_omitted,
    }
