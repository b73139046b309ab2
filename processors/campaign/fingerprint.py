"""A behaviour and its fingerprint.

One host's behaviour is what several rules see in the same packets.  In the seed, Office 365
Footprints: tiny_payload, unknown_payload, ttl_deviation and multi_destination_sequence each
raise an alert about the very same 2-byte requests.  Those alerts share a ``behaviour_id``:
they agree on everything the packets are (``behaviour_key``), and differ only in what each rule
noticed about them.

The *fingerprint* is the behaviour without the host, what software on many hosts would repeat:

================  ==================================================================================
payload           the payload class and, when every evidence packet carries the same data, its
                  SHA-256: the class alone is too coarse for ``unknown`` data, the hash alone
                  too fine when data varies (a counter inside).
data length       the range of data lengths: a stack or SDK sends a fixed size.
initial TTL       the TTL the packets left the host with (a rule's ``implied_initial_ttl``, or
                  the arriving TTL plus the host's ``hop_distance``): software sets it, the path
                  does not, so hosts at different distances still match.  When no alert of the
                  behaviour knows the host's distance, the arriving TTL range is used instead
                  (``ttl_at_sensor``), which only matches hosts at the same distance.
destinations      the destinations' prefixes (``campaigns.dst_prefix_v4``/``_v6``): a vendor's
                  regional and anycast endpoints differ per host inside its blocks.
identifiers       the identifier pattern: one identifier whose sequence runs across several
                  destinations (Footprints, one identifier per burst), one identifier to one
                  destination (a ping), or several identifiers (a scanner, a tool per probe).
================  ==================================================================================

Not in it: the host, times and counts (how often differs per host, not what), sensors, and the
rule set (a host whose SYNs were never seen lacks ttl_deviation, yet sends the same packets).
Only the rules in ``BEHAVIOUR_RULES`` describe what a host sends; a flood, a sweep, replies a
host receives or fragments are not behaviours software repeats in this sense.
"""

from __future__ import annotations

import hashlib
import ipaddress
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterable

import orjson

from processors.alerts.build import parse_iso_ns

#: rules whose alerts describe the packets a host sends, and so can form a behaviour
BEHAVIOUR_RULES = frozenset({
    "tiny_payload", "unknown_payload", "ttl_deviation", "multi_destination_sequence",
    "os_ttl_mismatch", "oversized_payload", "scanner_payload", "icmp_tunnel",
})

#: uuid5 namespace of behaviour ids
BEHAVIOUR_NAMESPACE = uuid.UUID("6f64a3a0-9c1e-5d2b-8f4e-0dd0a1e27016")

ONE_ID_ACROSS = "one_id_across_destinations"
ONE_ID = "one_id"
MANY_IDS = "many_ids"

#: identifier pattern -> how a summary says it
ID_PATTERN_PHRASES = {
    ONE_ID_ACROSS: "one identifier per burst, its sequence running across the destinations",
    ONE_ID: "one identifier per destination run",
    MANY_IDS: "several identifiers",
}


def behaviour_key(doc: dict[str, Any]) -> tuple | None:
    """What a host alert's packets are, or None when its rule describes no behaviour (or the
    document is not a host alert).  Alerts of one host with equal keys are one behaviour."""
    if doc.get("kind", "host") != "host" or doc.get("rule_id") not in BEHAVIOUR_RULES:
        return None
    return (
        doc["src_ip"], tuple(sorted(doc["payload_classes"])), doc["payload_len_min"],
        doc["payload_len_max"], doc["ttl_min"], doc["ttl_max"], tuple(sorted(doc["dst_ips"])),
        doc["icmp_id"],
    )


def behaviour_id(key: tuple) -> str:
    return str(uuid.uuid5(BEHAVIOUR_NAMESPACE, "behaviour|" + orjson.dumps(key).decode()))


def _prefix(ip: str, v4: int, v6: int) -> str:
    address = ipaddress.ip_address(ip)
    length = v4 if address.version == 4 else v6
    return str(ipaddress.ip_network(f"{ip}/{length}", strict=False))


def _one(values: Iterable[Any]) -> Any:
    """The value when all are equal, else None."""
    seen = set(values)
    return seen.pop() if len(seen) == 1 else None


@dataclass(slots=True)
class Behaviour:
    """One host's behaviour: the latest versions of its alerts, folded."""

    behaviour_id: str
    host: str
    fingerprint: dict[str, Any]
    fingerprint_id: str
    rules: list[str]
    dst_ips: list[str]
    first_ns: int
    last_ns: int
    severity: str
    packets: int
    #: the initial TTL of the host's other traffic, when a rule learned it (128: Windows)
    os_hint: int | None = None
    alert_ids: list[str] = field(default_factory=list)


SEVERITY_RANK = {"low": 1, "medium": 2, "high": 3, "critical": 4}


def fingerprint_of(docs: list[dict[str, Any]], prefix_v4: int, prefix_v6: int) -> dict[str, Any]:
    """The host-independent fingerprint of one behaviour's alerts (see the module's table)."""
    first = docs[0]
    hashes = _one(e["payload_sha256"] for d in docs for e in d["evidence"])
    initial = None
    for doc in docs:
        details = doc.get("details") or {}
        if isinstance(details.get("implied_initial_ttl"), int):
            initial = details["implied_initial_ttl"]
            break
        if isinstance(details.get("hop_distance"), int) and first["ttl_min"] == first["ttl_max"]:
            initial = first["ttl_min"] + details["hop_distance"]
            break
    dsts = first["dst_ips"]
    if first["icmp_id"] is None:
        pattern = MANY_IDS
    else:
        pattern = ONE_ID_ACROSS if len(dsts) > 1 else ONE_ID
    return {
        "payload_class": "+".join(sorted(first["payload_classes"])),
        "payload_sha256": hashes,
        "payload_len_min": first["payload_len_min"],
        "payload_len_max": first["payload_len_max"],
        "initial_ttl": initial,
        "ttl_at_sensor": None if initial is not None else [first["ttl_min"], first["ttl_max"]],
        "dst_prefixes": sorted({_prefix(ip, prefix_v4, prefix_v6) for ip in dsts}),
        "id_pattern": pattern,
        "ip_version": first["ip_version"],
    }


def fingerprint_id(fingerprint: dict[str, Any]) -> str:
    """Stable id of a fingerprint: the first 16 hex digits of the SHA-256 of its canonical
    JSON (the campaign stage's Kafka key)."""
    canonical = orjson.dumps(fingerprint, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()[:16]


def behaviours(docs: Iterable[dict[str, Any]], prefix_v4: int = 16,
               prefix_v6: int = 48) -> list[Behaviour]:
    """The behaviours in host alerts (each alert's latest version), in a deterministic order;
    sets ``behaviour_id`` on every alert that belongs to one."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for doc in docs:
        key = behaviour_key(doc)
        if key is not None:
            groups.setdefault(key, []).append(doc)
    out = []
    for key in sorted(groups, key=lambda k: orjson.dumps(k)):
        group = sorted(groups[key], key=lambda d: (d["rule_id"], d["alert_id"]))
        bid = behaviour_id(key)
        for doc in group:
            doc["behaviour_id"] = bid
        fingerprint = fingerprint_of(group, prefix_v4, prefix_v6)
        out.append(Behaviour(
            behaviour_id=bid,
            host=key[0],
            fingerprint=fingerprint,
            fingerprint_id=fingerprint_id(fingerprint),
            rules=sorted({d["rule_id"] for d in group}),
            dst_ips=list(group[0]["dst_ips"]),
            first_ns=min(parse_iso_ns(d["first_seen"]) for d in group),
            last_ns=max(parse_iso_ns(d["last_seen"]) for d in group),
            severity=max((d["severity"] for d in group), key=SEVERITY_RANK.__getitem__),
            packets=max(d["packet_count"] for d in group),
            alert_ids=[d["alert_id"] for d in group],
            os_hint=_one((d.get("details") or {}).get("host_initial_ttl") for d in group
                         if (d.get("details") or {}).get("host_initial_ttl") is not None),
        ))
    return out
