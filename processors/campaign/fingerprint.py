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
initial TTL       the TTL the packets left the host with (the alert's ``initial_ttl``: the
                  arriving TTL plus the host's hop distance, which the engine adds when it knows
                  the distance): software sets it, the path does not, so hosts at different
                  distances still match.  When the distance is unknown, the arriving TTL range
                  is used instead (``ttl_at_sensor``): it only matches hosts at the same distance.
destinations      the destinations' prefixes (``campaigns.dst_prefix_v4``/``_v6``): a vendor's
                  regional and anycast endpoints differ per host inside its blocks.
identifiers       the identifier pattern: one identifier whose sequence runs across several
                  destinations (Footprints, one identifier per burst), one identifier to one
                  destination (a ping), or several identifiers (a scanner, a tool per probe).
================  ==================================================================================

Everything in it comes from one alert document, so each alert version carries its own
``behaviour_id`` and ``campaign_id`` (``annotate``, called by the engine as it builds the
alert): scan and the stream compute the same, and no stage needs another host's alerts to say
which campaign an alert belongs to.  ``campaign_id`` is the alert_id of the campaign its
fingerprint makes in its campaign window: that campaign alert exists once
``campaigns.min_hosts`` hosts share the fingerprint (a lone host's alerts name a campaign that
never comes).

The campaign stage's Kafka key (the *stage key*, ``placed``) is the fingerprint *without* the
TTL, and the campaign window: an alert whose host's hop distance is learned between two of its
versions moves from one TTL group to another under the same key, so the stage replaces its entry instead of
leaving a stale one with another key's state.

Not in it: the host, times and counts (how often differs per host, not what), sensors, and the
rule set (a host whose SYNs were never seen lacks ttl_deviation, yet sends the same packets).
Only the rules in ``BEHAVIOUR_RULES`` describe what a host sends; a flood, a sweep, replies a
host receives or fragments are not behaviours software repeats in this sense.
"""

from __future__ import annotations

import hashlib
import ipaddress
import uuid
from functools import lru_cache
from typing import Any

import orjson

from oddping.config import CampaignSettings
from processors.alerts.build import ALERT_NAMESPACE, parse_iso_ns

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


#: severity -> rank
SEVERITY_RANK = {"low": 1, "medium": 2, "high": 3, "critical": 4}

#: the fingerprint fields that say the TTL: not in the stage key (see the module's text)
TTL_FIELDS = ("initial_ttl", "ttl_at_sensor")

NS_PER_S = 1_000_000_000


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


@lru_cache(maxsize=1 << 14)
def behaviour_id(key: tuple) -> str:
    return str(uuid.uuid5(BEHAVIOUR_NAMESPACE, "behaviour|" + orjson.dumps(key).decode()))


@lru_cache(maxsize=1 << 14)
def _prefix(ip: str, v4: int, v6: int) -> str:
    address = ipaddress.ip_address(ip)
    length = v4 if address.version == 4 else v6
    return str(ipaddress.ip_network(f"{ip}/{length}", strict=False))


def _one(values: Any) -> Any:
    """The value when all are equal, else None."""
    seen = set(values)
    return seen.pop() if len(seen) == 1 else None


def fingerprint_of(doc: dict[str, Any], prefix_v4: int = 16, prefix_v6: int = 48
                   ) -> dict[str, Any]:
    """The host-independent fingerprint of one behaviour alert (see the module's table)."""
    initial = doc.get("initial_ttl")
    dsts = doc["dst_ips"]
    if doc["icmp_id"] is None:
        pattern = MANY_IDS
    else:
        pattern = ONE_ID_ACROSS if len(dsts) > 1 else ONE_ID
    return {
        "payload_class": "+".join(sorted(doc["payload_classes"])),
        "payload_sha256": _one(e["payload_sha256"] for e in doc["evidence"]),
        "payload_len_min": doc["payload_len_min"],
        "payload_len_max": doc["payload_len_max"],
        "initial_ttl": initial,
        "ttl_at_sensor": None if initial is not None else [doc["ttl_min"], doc["ttl_max"]],
        "dst_prefixes": sorted({_prefix(ip, prefix_v4, prefix_v6) for ip in dsts}),
        "id_pattern": pattern,
        "ip_version": doc["ip_version"],
    }


def digest(value: Any) -> str:
    """16 hex digits of the SHA-256 of value's canonical JSON."""
    return _digest(orjson.dumps(value, option=orjson.OPT_SORT_KEYS))


@lru_cache(maxsize=1 << 14)
def _digest(canonical: bytes) -> str:
    # a fleet's alerts repeat a few fingerprints, once per version each
    return hashlib.sha256(canonical).hexdigest()[:16]


def fingerprint_id(fingerprint: dict[str, Any]) -> str:
    return digest(fingerprint)


def shape_id(fingerprint: dict[str, Any]) -> str:
    """The fingerprint without its TTL: the stage key's first part."""
    return digest({k: v for k, v in fingerprint.items() if k not in TTL_FIELDS})


def campaign_window(window_start_ns: int, settings: CampaignSettings) -> int:
    """The campaign window (epoch-aligned, campaigns.window_s) of an alert's window."""
    width = settings.window_s * NS_PER_S
    return window_start_ns - window_start_ns % width


@lru_cache(maxsize=1 << 14)
def campaign_id(fingerprint_id: str, window_start_ns: int) -> str:
    """The campaign alert's alert_id: one fingerprint in one campaign window."""
    return str(uuid.uuid5(ALERT_NAMESPACE, f"campaign|{fingerprint_id}|{window_start_ns}"))


def annotate(doc: dict[str, Any], initial_ttl: int | None, settings: CampaignSettings
             ) -> str | None:
    """Add ``initial_ttl`` (when known), ``behaviour_id`` and ``campaign_id`` to a host alert
    of a behaviour rule (others are left alone).  Returns its stage key (None when it was
    left alone, see ``placed``): every version of such an alert needs both, from the same
    fingerprint."""
    key = behaviour_key(doc)
    if key is None:
        return None
    if initial_ttl is not None:
        doc["initial_ttl"] = initial_ttl
    doc["behaviour_id"] = behaviour_id(key)
    fingerprint, start, stage_key = placed(doc, settings)
    doc["campaign_id"] = campaign_id(fingerprint_id(fingerprint), start)
    return stage_key


def placed(doc: dict[str, Any], settings: CampaignSettings) -> tuple[dict[str, Any], int, str]:
    """(fingerprint, campaign window start, stage key) of a host alert of a behaviour rule.
    The campaign stage's key is the fingerprint without the TTL, and the campaign window.  It
    can change between versions of one alert (its destinations, lengths or identifiers grow):
    the stream then withdraws the alert from the old key, as a Kafka Streams KTable re-keyed by
    groupBy sends the old key a subtraction."""
    fingerprint = fingerprint_of(doc, settings.dst_prefix_v4, settings.dst_prefix_v6)
    start = campaign_window(parse_iso_ns(doc["window_start"]), settings)
    return fingerprint, start, f"{shape_id(fingerprint)}|{start}"


def update_of(doc: dict[str, Any], settings: CampaignSettings
              ) -> tuple[str, dict[str, Any]] | None:
    """(stage key, behaviour update) of an annotated host alert version, or None: what the
    host stage publishes to the campaign stage (its topic, keyed by the stage key)."""
    if "behaviour_id" not in doc:
        return None
    fingerprint, start, stage_key = placed(doc, settings)
    details = doc.get("details") or {}
    return stage_key, {
        "alert_id": doc["alert_id"],
        "version": doc["version"],
        "status": doc["status"],
        "rule_id": doc["rule_id"],
        "host": doc["src_ip"],
        "behaviour_id": doc["behaviour_id"],
        "fingerprint": fingerprint,
        "window_start_ns": start,
        "first_ns": parse_iso_ns(doc["first_seen"]),
        "last_ns": parse_iso_ns(doc["last_seen"]),
        "version_ns": parse_iso_ns(doc["version_time"]),
        "severity": doc["severity"],
        # the initial TTL of the host's other traffic, when a rule learned it (128: Windows)
        "os_hint": details.get("host_initial_ttl"),
        "dst_ips": list(doc["dst_ips"]),
    }
