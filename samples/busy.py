"""A busy network for stream tests and benchmarks: many hosts, ordinary pings beside every odd
behaviour the rules look for, spread over several alert windows.  Deterministic for a seed.

    python -m samples.busy OUT.pcap [--hosts 300] [--minutes 20] [--seed 7]
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Iterator

from samples import craft

NS = 1_000_000_000
START_NS = 1_678_784_400 * NS  # 2023-03-14 09:00:00 UTC


def _frame(packet: bytes, ts_ns: int) -> craft.Frame:
    return craft.Frame(craft.ethernet(packet), ts_ns)


def _ordinary_windows(rng: random.Random, host: str, start: int, minutes: int) -> Iterator[craft.Frame]:
    target = f"198.51.100.{rng.randrange(1, 250)}"
    seq = rng.randrange(1, 5000)
    for burst in range(minutes):
        t = start + burst * 60 * NS + rng.randrange(NS)
        yield _frame(craft.tcp_syn(host, target, 50000 + burst, ttl=126), t)
        for i in range(4):
            req = craft.echo_request(host, target, 1, seq, craft.payload_windows(), ttl=126)
            yield _frame(req, t + i * NS)
            yield _frame(craft.reply_to(req, ttl=55), t + i * NS + 2_000_000)
            seq += 1


def _ordinary_linux(rng: random.Random, host: str, start: int, minutes: int) -> Iterator[craft.Frame]:
    target = f"203.0.113.{rng.randrange(1, 250)}"
    ident = rng.randrange(1, 65535)
    for burst in range(minutes):
        t = start + burst * 60 * NS + rng.randrange(NS)
        yield _frame(craft.tcp_syn(host, target, 40000 + burst, ttl=63), t)
        for i in range(4):
            seq = burst * 4 + i + 1
            payload = craft.payload_linux(t / NS + i)
            req = craft.echo_request(host, target, ident, seq, payload, ttl=63)
            yield _frame(req, t + i * NS)
            yield _frame(craft.reply_to(req, ttl=58), t + i * NS + 1_000_000)


def _footprints(rng: random.Random, host: str, start: int, minutes: int) -> Iterator[craft.Frame]:
    targets = ["13.107.4.52", "52.113.194.132", "40.99.9.162"]
    seq = rng.randrange(10, 200)
    for burst in range(minutes):
        t = start + burst * 60 * NS + rng.randrange(NS)
        yield _frame(craft.tcp_syn(host, "20.190.151.70", 51000 + burst, ttl=126), t)
        for i in range(6):
            dst = targets[i % 3]
            req = craft.echo_request(host, dst, 1, seq, craft.payload_zeros(2), ttl=28)
            yield _frame(req, t + NS + i * 1_500_000)
            yield _frame(craft.reply_to(req, ttl=115), t + NS + i * 1_500_000 + 9_000_000)
            seq += 1


def _sweeper(rng: random.Random, host: str, start: int, minutes: int) -> Iterator[craft.Frame]:
    t = start + rng.randrange(60) * NS
    for i in range(40):
        req = craft.echo_request(host, f"10.66.{i // 200}.{i % 200 + 1}", rng.randrange(65535), 0,
                                 craft.payload_nmap(), ttl=rng.randrange(37, 60))
        yield _frame(req, t + i * 50_000_000)


def _tunnel(rng: random.Random, host: str, start: int, minutes: int) -> Iterator[craft.Frame]:
    proxy = f"192.0.2.{rng.randrange(1, 250)}"
    t = start + rng.randrange(30) * NS
    for i in range(minutes * 30):
        data = rng.randbytes(rng.randrange(40, 900))
        req = craft.echo_request(host, proxy, 0x4242, i, craft.payload_ptunnel(data), ttl=64)
        ts = t + i * 2 * NS
        yield _frame(req, ts)
        answer = craft.payload_ptunnel(rng.randbytes(rng.randrange(40, 900)))
        yield _frame(craft.echo_reply(proxy, host, 0x4242, i, answer, ttl=50), ts + 20_000_000)


BEHAVIOURS = (  # (share of hosts, generator)
    (0.45, _ordinary_windows),
    (0.35, _ordinary_linux),
    (0.10, _footprints),
    (0.06, _sweeper),
    (0.04, _tunnel),
)


def busy_frames(hosts: int = 300, minutes: int = 20, seed: int = 7) -> list[craft.Frame]:
    rng = random.Random(seed)
    frames: list[craft.Frame] = []
    for n in range(hosts):
        host = f"10.{20 + n // 60000}.{(n // 250) % 240}.{n % 250 + 1}"
        pick = rng.random()
        for share, behaviour in BEHAVIOURS:
            if pick < share:
                break
            pick -= share
        start = START_NS + rng.randrange(120) * NS
        frames.extend(behaviour(rng, host, start, minutes))
    frames.sort(key=lambda f: f.ts_ns)
    return frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--hosts", type=int, default=300)
    parser.add_argument("--minutes", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    craft.write_pcap(args.out, busy_frames(args.hosts, args.minutes, args.seed))


if __name__ == "__main__":
    main()
