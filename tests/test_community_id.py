"""producer/record/community.py hashes Community IDs itself; the reference package is the oracle."""

from __future__ import annotations

import logging
import random
import socket

import communityid
import pytest

from producer.record import community

_reference = communityid.CommunityID()
logging.getLogger(communityid.LOG.name).setLevel(logging.WARNING)


def _reference_id(version: int, src: bytes, dst: bytes, icmp_type: int, icmp_code: int) -> str:
    family = socket.AF_INET if version == 4 else socket.AF_INET6
    make = communityid.FlowTuple.make_icmp if version == 4 else communityid.FlowTuple.make_icmp6
    return _reference.calc(make(socket.inet_ntop(family, src), socket.inet_ntop(family, dst),
                                icmp_type, icmp_code))


@pytest.mark.parametrize("version", [4, 6])
def test_every_type_and_code_matches_the_reference(version: int) -> None:
    rng = random.Random(version)
    size = 4 if version == 4 else 16
    low, high = bytes(size - 1) + b"\x01", b"\xff" + bytes(size - 1)
    pairs = [(low, high), (high, low), (low, low)]  # both orders, and one host to itself
    pairs += [(rng.randbytes(size), rng.randbytes(size)) for _ in range(3)]
    for icmp_type in range(256):
        for icmp_code in (0, 1, 3, 255):
            for src, dst in pairs:
                ours = community.community_id(version, src, dst, icmp_type, icmp_code)
                assert ours == _reference_id(version, src, dst, icmp_type, icmp_code), (
                    version, src.hex(), dst.hex(), icmp_type, icmp_code)


def test_request_and_reply_share_an_id() -> None:
    a, b = socket.inet_aton("10.0.0.1"), socket.inet_aton("192.0.2.9")
    request = community.community_id(4, a, b, 8, 0)
    assert request == community.community_id(4, b, a, 0, 0)
    assert request == _reference_id(4, a, b, 8, 0)
