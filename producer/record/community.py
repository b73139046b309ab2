"""Community ID (v1) of an ICMP flow, hashed here from the packed addresses.

The spec (github.com/corelight/community-id-spec) is one SHA-1 over seed, addresses, protocol,
a pad byte and two "ports", base64-encoded, with the endpoints put in a canonical order so
request and reply hash alike.  For ICMP the ports are Zeek's mapping of type and code; it is
taken from the reference `communityid` package's own tables, so there is one copy of it.  The
reference package itself costs ~50 µs a call (it round-trips the addresses through text and
builds three FlowTuple objects), which made it ~20 % of `oddping produce` on a capture with many
flows; this costs ~2 µs and the tests check it against the reference for every type and code.
The record builder caches the result per flow (producer/record/build.py).
"""

from __future__ import annotations

from base64 import b64encode
from hashlib import sha1

from communityid import icmp as zeek_icmp
from communityid import icmp6 as zeek_icmp6

SEED = 0  # the spec's default; other tools compare ids only when seeds agree
_SEED_BYTES = SEED.to_bytes(2, "big")
_PROTO_AND_PAD = {4: bytes((1, 0)), 6: bytes((58, 0))}  # IP protocol number, one zero byte
_TYPE_PAIRS = {4: zeek_icmp.TYPE_MAPPER, 6: zeek_icmp6.TYPE_MAPPER}


def community_id(ip_version: int, src: bytes, dst: bytes, icmp_type: int, icmp_code: int) -> str:
    """src and dst are the packed addresses (4 or 16 bytes, network byte order)."""
    counterpart = _TYPE_PAIRS[ip_version].get(icmp_type)
    if counterpart is None:  # no request/reply pairing: one-way, the tuple is hashed as it is
        sport, dport = icmp_type, icmp_code
    else:
        sport, dport = icmp_type, counterpart
        # canonical order: the smaller address first (then the smaller "port"), as the spec says
        if not (src < dst or (src == dst and sport < dport)):
            src, dst, sport, dport = dst, src, dport, sport
    data = (_SEED_BYTES + src + dst + _PROTO_AND_PAD[ip_version]
            + sport.to_bytes(2, "big") + dport.to_bytes(2, "big"))
    return "1:" + b64encode(sha1(data).digest()).decode()


def community_id_ip(ip_version: int, src: bytes, dst: bytes) -> str:
    """Community ID of an ICMP flow whose type and code are unknown (fragments without the
    first one): the spec's form for a protocol without ports, endpoints in canonical order."""
    if dst < src:
        src, dst = dst, src
    data = _SEED_BYTES + src + dst + _PROTO_AND_PAD[ip_version]
    return "1:" + b64encode(sha1(data).digest()).decode()
