"""Which addresses are internal: the configured ``[networks] internal`` list, nothing else.

Rules that treat internal and external peers differently (tiny_payload's DC-to-DC exemption)
ask this table rather than ``ipaddress``'s ``is_private``, which also counts documentation and
test ranges (192.0.2.0/24, 2001:db8::/32) and leaves out CGNAT's 100.64.0.0/10.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from oddping.config import DEFAULT_INTERNAL_NETWORKS

#: Answers remembered; when full, start over (a host talks to far fewer peers than this).
_CACHE_MAX = 65536


class InternalNetworks:
    def __init__(self, cidrs: Iterable[str] = DEFAULT_INTERNAL_NETWORKS) -> None:
        networks = [ipaddress.ip_network(c, strict=False) for c in cidrs]
        self.v4 = tuple(n for n in networks if n.version == 4)
        self.v6 = tuple(n for n in networks if n.version == 6)
        self._cache: dict[str, bool] = {}

    def __contains__(self, address: str) -> bool:
        hit = self._cache.get(address)
        if hit is None:
            try:
                ip = ipaddress.ip_address(address)
            except ValueError:
                return False
            if ip.version == 6 and ip.ipv4_mapped is not None:
                ip = ip.ipv4_mapped
            hit = any(ip in net for net in (self.v4 if ip.version == 4 else self.v6))
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[address] = hit
        return hit
