"""Reassembly of fragmented ICMP datagrams with bounded memory and event-time expiry.

Fragments are held per (version, src, dst, id, protocol).  A datagram is dropped, and all its
fragments counted malformed with the reason, when fragments overlap with different data, when
there are too many, when it would exceed the IP maximum, or when it is not complete within the
timeout (capture time).  Limits mirror what IP stacks use (Linux ipfrag_time 30 s).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

MAX_DATAGRAMS = 1024  # datagrams being reassembled at once; the oldest is dropped beyond this
MAX_FRAGMENTS = 64  # per datagram
MAX_DATAGRAM_BYTES = 65535
TIMEOUT_NS = 30 * 1_000_000_000


@dataclass(slots=True)
class _Datagram:
    first_ts_ns: int
    header: tuple  # IP fields of the fragment at offset 0 (ttl, id, df ...), once seen
    pieces: dict[int, bytes] = field(default_factory=dict)  # offset -> data
    total_len: int | None = None  # known once the last fragment (MF clear) arrived


class FragmentError(Exception):
    def __init__(self, reason: str, dropped: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.dropped = dropped  # fragments held before this one that are now dropped too


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
            raise FragmentError("fragment_too_large", self._drop(key, dgram))
        existing = dgram.pieces.get(offset)
        if existing is not None and existing == data:
            raise FragmentError("fragment_duplicate", 0)  # a retransmitted copy: nothing new
        for start, piece in dgram.pieces.items():
            if start < end and offset < start + len(piece):
                raise FragmentError("fragment_overlap", self._drop(key, dgram))
        if len(dgram.pieces) >= MAX_FRAGMENTS:
            raise FragmentError("fragment_too_many", self._drop(key, dgram))
        if not more:
            if dgram.total_len is not None and dgram.total_len != end:
                raise FragmentError("fragment_overlap", self._drop(key, dgram))
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
