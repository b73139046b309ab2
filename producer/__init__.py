"""The capture producer: frames -> ICMP records (decode, classify) -> Kafka.

`decode_file` is the whole decode side for one capture, used by `oddping decode`, `oddping scan`
and the tests; the Kafka side lives in producer.publish.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from .accounting import Accounting
from .capture.files import CaptureReader
from .decode.decoder import Decoder

__all__ = ["Accounting", "DecodeResult", "Decoder", "decode_file", "iter_records"]


@dataclass
class DecodeResult:
    records: list[dict] = field(default_factory=list)
    account: Accounting = field(default_factory=Accounting)
    error: str | None = None  # one line when the capture itself is damaged


def iter_records(reader: CaptureReader, decoder: Decoder) -> Iterator[dict]:
    """Records of one capture in capture order; accounting lands in decoder.account."""
    decode = decoder.decode_frame
    for _frame_no, ts_ns, linktype, data, wire_len in reader:
        yield from decode(linktype, data, ts_ns, wire_len)
    decoder.finish()
    account = decoder.account
    if reader.prefiltered:
        account.packets_read += reader.prefiltered
        account.skipped["prefilter_not_icmp_or_syn"] += reader.prefiltered
    if reader.filtered_out:
        account.packets_read += reader.filtered_out
        account.skipped["bpf_filter"] += reader.filtered_out


def decode_file(path: str, sensor_id: str = "test", bpf: str | None = None) -> DecodeResult:
    reader = CaptureReader(path, bpf=bpf)
    decoder = Decoder(sensor_id)
    records = list(iter_records(reader, decoder))
    return DecodeResult(records, decoder.account, reader.error)
