"""The BPF program that lets libpcap drop, in C, frames that cannot matter to oddping.

It keeps ICMP, ICMPv6, TCP SYNs (hop-distance context) and everything that may hide those:
IPv6 extension headers and fragments, VXLAN, GRE (plain, ERSPAN), IP-in-IP, under up to three
VLAN tags.  A plain `icmp` filter would miss all of the hidden ones.  `vlan` shifts offsets for
every term after it, so the tagged alternatives come last, nested.
"""

from __future__ import annotations

import pcapy

IPV4_TERMS = (
    "icmp",
    "(tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn)",
    "(udp dst port 4789)",  # VXLAN
    "ip proto 47",  # GRE, ERSPAN
    "ip proto 4",  # IPv4 in IPv4
    "ip proto 41",  # IPv6 in IPv4
)
IPV6_TERMS = (
    "icmp6",
    # hop-by-hop, routing, fragment, destination options, AH: ICMPv6 may sit behind them
    "(ip6 and (ip6 proto 0 or ip6 proto 43 or ip6 proto 44 or ip6 proto 60 or ip6 proto 51))",
    "(ip6 proto 6 and ip6[53] & 0x12 == 0x02)",  # TCP SYN without ACK, no extension headers
    "(ip6 and (ip6 proto 47 or ip6 proto 4 or ip6 proto 41))",
)
CORE = " or ".join(IPV4_TERMS + IPV6_TERMS)
ETHERNET_EXPRESSION = (
    f"({CORE}) or (vlan and (({CORE}) or (vlan and (({CORE}) or (vlan and ({CORE}))))))"
)
# BSD loopback (DLT_NULL) stores the address family in the capturing host's byte order, which
# need not be the file's; libpcap's filter assumes the file's, so these go unfiltered.
UNFILTERED_LINKTYPES = frozenset({0})

_cache: dict[int, str | None] = {}
# pcap files say LINKTYPE_RAW (101); libpcap's compiler wants the DLT it maps to (12).
LINKTYPE_TO_DLT = {101: 12}


def dlt_for(linktype: int) -> int:
    return LINKTYPE_TO_DLT.get(linktype, linktype)


def prefilter_expression(linktype: int) -> str | None:
    """The expression for this link type, or None where libpcap cannot compile it (then every
    frame goes to the decoder, which sorts them itself)."""
    if linktype in UNFILTERED_LINKTYPES:
        return None
    if linktype not in _cache:
        candidate = ETHERNET_EXPRESSION if linktype == 1 else CORE
        try:
            pcapy.compile(dlt_for(linktype), 65535, candidate, 1, 0xFFFFFFFF)
        except pcapy.PcapError:
            candidate = None
        _cache[linktype] = candidate
    return _cache[linktype]
