"""Fingerprints of benign fleet software, each row with its public source.

A campaign whose fingerprint matches a row is still reported: its summary names the software
and the source, and its severity drops to the row's (``severity``).  Never a silent drop: to
silence it, an analyst pastes ``oddping suppress --campaign ID`` into the config.

A row matches when the payload class and data length are equal, the initial TTL is the row's
(or, when the hosts' hop distance is unknown, the arriving TTL is at most ``UNKNOWN_HOPS``
below it), and every destination prefix of the campaign lies inside the row's networks.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

#: hops a packet may have crossed when the hosts' distance is unknown
UNKNOWN_HOPS = 16


@dataclass(frozen=True, slots=True)
class KnownFingerprint:
    name: str
    #: what the software is, as the summary's conclusion says it
    software: str
    source: str
    payload_class: str
    payload_len: int
    initial_ttl: int
    dst_cidrs: tuple[str, ...]
    severity: str = "low"


KNOWN: tuple[KnownFingerprint, ...] = (
    KnownFingerprint(
        name="office365_footprints",
        software="Office 365 Footprints telemetry",
        source=(
            "SANS Internet Storm Center diary by Andy Laman (2-byte zero echo requests at"
            " initial TTL 30 from Windows 10 hosts, traced to Office 365's Footprints SDK);"
            " destinations: Microsoft's 'Office 365 URLs and IP address ranges'"
            " (learn.microsoft.com/microsoft-365/enterprise/urls-and-ip-address-ranges)"
        ),
        payload_class="zeros",
        payload_len=2,
        initial_ttl=30,
        # Microsoft's published Office 365 / Azure front-door blocks the seed's
        # destinations (13.107.4.52, 52.113.194.132, 40.99.9.162) lie in
        dst_cidrs=("13.107.0.0/16", "52.96.0.0/11", "40.96.0.0/13", "40.104.0.0/15",
                   "2603:1000::/24", "2620:1ec::/36"),
    ),
)


def _inside(prefix: str, networks: list[Any]) -> bool:
    net = ipaddress.ip_network(prefix)
    return any(net.version == n.version and net.subnet_of(n) for n in networks)


def match(fingerprint: dict[str, Any], table: tuple[KnownFingerprint, ...] = KNOWN
          ) -> KnownFingerprint | None:
    """The first known row the fingerprint matches, or None."""
    for row in table:
        if fingerprint["payload_class"] != row.payload_class:
            continue
        if not fingerprint["payload_len_min"] == fingerprint["payload_len_max"] == row.payload_len:
            continue
        initial = fingerprint["initial_ttl"]
        if initial is not None:
            if initial != row.initial_ttl:
                continue
        else:
            low, high = fingerprint["ttl_at_sensor"]
            if not (row.initial_ttl - UNKNOWN_HOPS <= low and high <= row.initial_ttl):
                continue
        networks = [ipaddress.ip_network(c) for c in row.dst_cidrs]
        if fingerprint["dst_prefixes"] and all(
                _inside(p, networks) for p in fingerprint["dst_prefixes"]):
            return row
    return None
