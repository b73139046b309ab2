"""A fleet for the campaign tests: many Windows hosts with the seed's Footprints telemetry (the
same behaviour on each, at different hop distances), one host with its own odd behaviour, and
ordinary pings.  Hosts teach their hop distance with TCP SYNs first (initial TTL 128)."""

from __future__ import annotations

from typing import Any

from recordkit import at, by_time, footprints_burst, ping_run, request, syns

LONE_HOST = "10.31.0.5"


def fleet_host(n: int) -> str:
    return f"10.30.{n // 200}.{n % 200 + 1}"


def fleet(hosts: int = 20, *, footprints: bool = True, lone: bool = True) -> list[dict[str, Any]]:
    """hosts Windows hosts, 2 or 3 hops from the sensor, each pinging an ordinary server; with
    footprints, each also sends Footprints bursts (initial TTL 30) a few seconds apart from the
    others; with lone, LONE_HOST sends 40 bytes of unknown data at initial TTL 64 to one
    address (one host's odd behaviour: ordinary alerts, no campaign)."""
    records: list[dict[str, Any]] = []
    for n in range(hosts):
        ip = fleet_host(n)
        hops = 2 + n % 2
        start = n * 3.0
        records += syns(ip, "52.1.1.1", at(start), ttl=128 - hops)
        records += ping_run(ip, "13.107.4.52", start + 0.5, 3, payload_class="windows",
                            ttl=128 - hops, icmp_id=1)
        if footprints:
            records += footprints_burst(ip, start + 1, 100 + n, rounds=2, ttl=30 - hops)
    if lone:
        records += syns(LONE_HOST, "52.1.1.1", at(5), ttl=62)
        for k in range(5):
            records.append(request(LONE_HOST, "198.51.100.77", at(6 + k), icmp_id=0x4D2,
                                   seq=k + 1, ttl=62, payload_class="unknown"))
    return by_time(records)
