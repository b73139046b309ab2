"""Reassembly of fragmented ICMP datagrams with bounded memory and event-time expiry.

Fragments are held per (version, src, dst, id, protocol).  A datagram is dropped, and all its
fragments counted malformed with the reason, when fragments overlap with different data, when
there are too many, when it would exceed the IP maximum, or when it is not complete within the
timeout (capture time).  Limits mirror what IP stacks use (Linux ipfrag_time 30 s).

The first three, and a tiny first fragment (which is still reassembled), are also anomalies the
decoder reports as a ``fragment_anomaly`` record (ANOMALIES, tiny_first): the engine's
fragment_anomaly rule raises them, so an attacker cannot hide in what reassembly drops.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

MAX_DATAGRAMS = 1024  # datagrams being reassembled at once; the oldest is dropped beyond this
MAX_FRAGMENTS = 64  # per datagram
MAX_DATAGRAM_BYTES = 65535
TIMEOUT_NS = 30 * 1_000_000_000
#: A first fragment (offset 0, more to come) with less data than this is an anomaly: no link's
#: MTU makes one (IPv4's minimum, 68, leaves 48; real first fragments carry 500 to 9,000 bytes),
#: and splitting headers over tiny fragments is how filters are evaded (RFC 1858, RFC 7112).
TINY_FIRST_FRAGMENT = 64

#: FragmentError reason -> the fragment anomaly a record reports (kind fragment_anomaly):
#: what an attacker can hide in is a finding, not only a malformed count.
ANOMALIES = {
    "fragment_overlap": "overlap",  # teardrop-style: overlapping pieces with different data
    "fragment_too_large": "oversized",  # ping of death: reassembled beyond 65,535 bytes
    "fragment_too_many": "too_many_fragments",
}
TINY = "tiny_first_fragment"


def tiny_first(offset: int, more: bool, size: int) -> bool:
    """Whether a fragment is a tiny first fragment (see TINY_FIRST_FRAGMENT)."""
    return offset == 0 and more and size < TINY_FIRST_FRAGMENT


@dataclass(slots=True)
class _Datagram:
    first_ts_ns: int
    header: tuple  # IP fields of the fragment at offset 0 (ttl, id, df ...), once seen
    pieces: dict[int, bytes] = field(default_factory=dict)  # offset -> data
    total_len: int | None = None  # known once the last fragment (MF clear) arrived


class FragmentError(Exception):
    def __init__(self, reason: str, dropped: int, size: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.dropped = dropped  # fragments held before this one that are now dropped too
        self.size = size  # the reassembled length the fragments claim, where that is the matter
        #: records the frame still gives (the decoder's fragment_anomaly record)
        self.records: list[dict] = []
        #: the datagram's first fragment's data (its ICMP header), if it was held, and the
        #: data of the fragment that failed
        self.head: bytes | None = None
        self.data = b""


@dataclass(slots=True)
class Completed:
    header: tuple
    data: bytes  # the reassembled upper-layer message
    fragments: int  # how many frames made it, including the completing one


class Reassembler:
    def __init__(self) -> None:
        self._datagrams: OrderedDict[tuple, _Datagram] = OrderedDict()
        self.held = 0
        # (reason, fragments) of datagrams given up on (timeout, eviction, end of input); the
        # decoder moves them from pending to malformed.
        self.given_up: list[tuple[str, int]] = []

    def expire(self, now_ns: int) -> None:
        """Give up on datagrams whose first fragment is older than the timeout (event time)."""
        while self._datagrams:
            key, dgram = next(iter(self._datagrams.items()))
            if now_ns - dgram.first_ts_ns <= TIMEOUT_NS:
                break
            del self._datagrams[key]
            self.given_up.append(("fragment_timeout", self._release(dgram)))

    def drain(self) -> None:
        """End of input: whatever is still incomplete."""
        for dgram in self._datagrams.values():
            self.given_up.append(("fragment_incomplete", self._release(dgram)))
        self._datagrams.clear()

    def _release(self, dgram: _Datagram) -> int:
        n = len(dgram.pieces)
        self.held -= n
        return n

    def add(
        self, key: tuple, ts_ns: int, offset: int, more: bool, data: bytes, header: tuple | None
    ) -> Completed | None:
        """Add one fragment: Completed when it finished a datagram, None while held.

        Raises FragmentError when the datagram has to be dropped (this fragment included)."""
        dgram = self._datagrams.get(key)
        if dgram is None:
            if len(self._datagrams) >= MAX_DATAGRAMS:
                _, oldest = self._datagrams.popitem(last=False)
                self.given_up.append(("fragment_evicted", self._release(oldest)))
            dgram = self._datagrams[key] = _Datagram(ts_ns, ())
        end = offset + len(data)
        if end > MAX_DATAGRAM_BYTES:
            raise self._fail("fragment_too_large", key, dgram, offset, data, end)
        existing = dgram.pieces.get(offset)
        if existing is not None and existing == data:
            raise FragmentError("fragment_duplicate", 0)  # a retransmitted copy: nothing new
        for start, piece in dgram.pieces.items():
            if start < end and offset < start + len(piece):
                raise self._fail("fragment_overlap", key, dgram, offset, data)
        if len(dgram.pieces) >= MAX_FRAGMENTS:
            raise self._fail("fragment_too_many", key, dgram, offset, data)
        if not more:
            if dgram.total_len is not None and dgram.total_len != end:
                raise self._fail("fragment_overlap", key, dgram, offset, data)
            dgram.total_len = end
        if offset == 0 and header is not None:
            dgram.header = header
        dgram.pieces[offset] = data
        self.held += 1
        done = self._complete(dgram)
        if done is None:
            return None
        del self._datagrams[key]
        self.held -= len(dgram.pieces)
        return Completed(dgram.header, done, len(dgram.pieces))

    def _fail(self, reason: str, key: tuple, dgram: _Datagram, offset: int, data: bytes,
              size: int | None = None) -> FragmentError:
        """Drop the datagram; the error says what the anomaly record needs."""
        err = FragmentError(reason, self._drop(key, dgram), size)
        err.head = data if offset == 0 else dgram.pieces.get(0)
        err.data = data
        return err

    def _drop(self, key: tuple, dgram: _Datagram) -> int:
        del self._datagrams[key]
        return self._release(dgram)

    @staticmethod
    def _complete(dgram: _Datagram) -> bytes | None:
        if dgram.total_len is None or 0 not in dgram.pieces:
            return None
        position = 0
        parts = []
        for start in sorted(dgram.pieces):
            if start != position:
                return None
            piece = dgram.pieces[start]
            parts.append(piece)
            position += len(piece)
        return b"".join(parts) if position == dgram.total_len else None
