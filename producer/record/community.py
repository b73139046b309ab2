"""Community ID (v1) of an ICMP flow, via the reference `communityid` package.

Request and reply hash to the same id (the spec pairs their types), and the identifier is not
part of the hash.  The reference implementation costs ~50 µs a call, so results are cached per
(addresses, type, code); a sensor sees few distinct pairs compared with packets.
"""

from __future__ import annotations

import logging

import communityid

# The package logs every hash at INFO, byte by byte; that is debugging output, not ours to show.
logging.getLogger(communityid.LOG.name).setLevel(logging.WARNING)

_CID = communityid.CommunityID()
_CACHE_MAX = 131072
_cache: dict[tuple[str, str, int, int, int], str] = {}


def community_id(ip_version: int, src: str, dst: str, icmp_type: int, icmp_code: int) -> str:
    key = (src, dst, icmp_type, icmp_code, ip_version)
    cid = _cache.get(key)
    if cid is None:
        make = communityid.FlowTuple.make_icmp if ip_version == 4 else communityid.FlowTuple.make_icmp6
        cid = _CID.calc(make(src, dst, icmp_type, icmp_code))
        if len(_cache) >= _CACHE_MAX:
            _cache.clear()
        _cache[key] = cid
    return cid
