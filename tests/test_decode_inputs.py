"""Every way a capture can arrive gives the same records, and the shipped samples are sound.

* one set of frames written as pcap (µs/ns x little/big endian), pcapng (several interfaces with
  different resolutions, either byte order), gzip of both, and fed on stdin: identical records,
  field for field, frame numbers included;
* a pcapng mixing all link types decodes like one pcap per link type;
* every record of every sample validates against schemas/icmp_record.schema.json;
* VLAN ids and tunnel names land in the record, outermost first;
* the samples regenerate byte for byte and footprints.pcap shows the seed article's case.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from samples import craft as c
from schemas import first_error

T0 = 1_678_784_400_000_000_000
A4, B4 = "10.20.0.15", "13.107.4.52"
A6, B6 = "2001:db8:10::15", "2001:db8:20::52"
O4 = ("192.0.2.1", "192.0.2.2")
O6 = ("2001:db8:ffff::1", "2001:db8:ffff::2")
SAMPLE_FILES = ["footprints.pcap", "encapsulations.pcapng", "mixed-small.pcap.gz"]


def reference_frames() -> list[c.Frame]:
    """Ethernet frames of many kinds; timestamps on whole microseconds so µs formats agree."""
    pkts = []
    req4 = c.echo_request(A4, B4, 1, 40, c.payload_zeros(2), ttl=28, ip_id=0x1111)
    pkts += [c.ethernet(req4), c.ethernet(c.reply_to(req4, ttl=115, ip_id=0x2222))]
    req6 = c.echo_request(A6, B6, 9, 1, c.payload_linux(), ttl=63)
    pkts += [c.ethernet(req6), c.ethernet(c.reply_to(req6, ttl=57))]
    pkts.append(c.ethernet(c.time_exceeded("198.51.100.1", A4, req4, ttl=254)))
    pkts.append(c.ethernet(c.tcp_syn(A4, "52.96.165.18", 50000, 443, ttl=126)))
    pkts.append(c.ethernet(c.tcp_packet(A4, "52.96.165.18", 50000, 443, c.TCP_ACK, 1, 1, b"hi")))
    pkts.append(c.ethernet(c.udp_packet(A4, "1.1.1.1", 50001, 53, c.dns_query("example.com"))))
    pkts.append(c.ethernet(c.vxlan(c.ethernet(req4, vlans=[42]), *O4), vlans=[5]))
    pkts.append(c.ethernet(c.erspan3(c.ethernet(req6), *O4, platform=1 << 58)))
    pkts += [c.ethernet(f) for f in
             c.fragment_ipv4(c.echo_request(A4, B4, 2, 2, c.payload_large(1000), ip_id=7), 400)]
    pkts.append(c.ethernet(c.echo_request(A6, B6, 3, 3, c.payload_windows(),
                                          ext=[c.hop_by_hop(), c.dest_options()]), vlans=[120]))
    return [c.Frame(p, T0 + i * 1_000_123_000) for i, p in enumerate(pkts)]


def _pcapng(frames, big_endian=False):
    interfaces = [c.Interface(c.LINKTYPE_ETHERNET, 6, name="eth-us"),
                  c.Interface(c.LINKTYPE_ETHERNET, 9, name="eth-ns")]
    frames = [c.Frame(f.data, f.ts_ns, f.linktype, iface=i % 2) for i, f in enumerate(frames)]
    return c.pcapng_bytes(frames, interfaces, big_endian=big_endian)


FORMATS = {
    "pcap-us-le": lambda fr: c.pcap_bytes(fr),
    "pcap-us-be": lambda fr: c.pcap_bytes(fr, big_endian=True),
    "pcap-ns-le": lambda fr: c.pcap_bytes(fr, nano=True),
    "pcap-ns-be": lambda fr: c.pcap_bytes(fr, nano=True, big_endian=True),
    "pcapng-le": lambda fr: _pcapng(fr),
    "pcapng-be": lambda fr: _pcapng(fr, big_endian=True),
    "pcapng-one-interface-us": lambda fr: c.pcapng_bytes(fr),
    "pcapng-one-interface-ns": lambda fr: c.pcapng_bytes(fr, tsresol={1: 9}),
    "pcap-us.gz": lambda fr: c.gzip_bytes(c.pcap_bytes(fr)),
    "pcap-ns.gz": lambda fr: c.gzip_bytes(c.pcap_bytes(fr, nano=True)),
    "pcapng.gz": lambda fr: c.gzip_bytes(_pcapng(fr)),
}


def _decode(path: Path, **kw):
    from producer import decode_file

    result = decode_file(str(path), sensor_id="test", **kw)
    assert result.error is None, result.error
    assert result.account.balanced(), result.account.as_dict()
    return result


def _jsonl(stdout: bytes) -> list[dict]:
    return [json.loads(line) for line in stdout.decode().splitlines() if line.strip()]


def _roundtrip(records: list[dict]) -> list[dict]:
    return json.loads(json.dumps(records))


def frame_numbers(records: list[dict], frames: list[c.Frame]) -> list[int]:
    """Frame numbers of records, by their timestamps (unique per frame in these captures)."""
    index = {f.ts_ns: n for n, f in enumerate(frames, start=1)}
    assert len(index) == len(frames)
    out = []
    for r in records:
        n = index[r["ts_ns"]]
        assert r.get("frame", n) == n, "the record's frame number disagrees with its timestamp"
        out.append(n)
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    path = tmp_path_factory.mktemp("ref") / "reference.pcap"
    path.write_bytes(FORMATS["pcap-ns-le"](reference_frames()))
    result = _decode(path)
    assert not result.account.malformed, result.account.as_dict()
    return result.records


def test_reference_is_what_was_written(reference):
    frames = reference_frames()
    icmp = [r for r in reference if r["kind"] == "icmp"]
    # every ICMP frame once, the fragments as one record on the last fragment, the SYN observed
    assert frame_numbers(reference, frames) == [1, 2, 3, 4, 5, 6, 9, 10, 13, 14]
    assert len(icmp) == 9


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_format_gives_the_same_records(tmp_path, reference, fmt):
    path = tmp_path / f"capture.{fmt}"
    path.write_bytes(FORMATS[fmt](reference_frames()))
    result = _decode(path)
    assert result.account.packets_read == len(reference_frames()), result.account.as_dict()
    assert result.records == reference


@pytest.mark.parametrize("fmt", ["pcap-ns-le", "pcap-us-be", "pcapng-le", "pcap-ns.gz",
                                 "pcapng.gz"])
def test_stdin_gives_the_same_records(tmp_path, run_oddping, reference, fmt):
    data = FORMATS[fmt](reference_frames())
    proc = run_oddping("decode", "-", "--sensor-id", "test", input=data)
    err = proc.stderr.decode(errors="replace")
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert _jsonl(proc.stdout) == _roundtrip(reference)


def test_cli_file_equals_library(tmp_path, run_oddping, reference):
    path = tmp_path / "capture.pcap.gz"
    path.write_bytes(FORMATS["pcap-us.gz"](reference_frames()))
    proc = run_oddping("decode", path, "--sensor-id", "test", "--format", "jsonl")
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert _jsonl(proc.stdout) == _roundtrip(reference)
    table = run_oddping("decode", path, "--format", "table")
    assert table.returncode == 0, table.stderr.decode(errors="replace")
    assert table.stdout.strip(), "the table view printed nothing"


# ---------------------------------------------------------------------------------------------
# pcapng mixing link types == one pcap per link type

LINK_RESOLUTION = {"ethernet": 6, "raw": 9, "linux_sll": 9, "linux_sll2": 6, "loopback": 3}


def test_multi_link_pcapng_equals_pcap_per_link(tmp_path):
    links = list(LINK_RESOLUTION)
    interfaces = [c.Interface(c.LINKTYPES[lk], LINK_RESOLUTION[lk], name=lk) for lk in links]
    mixed, per_link = [], {lk: [] for lk in links}
    for i in range(20):
        lk = links[i % len(links)]
        src, dst = (A4, B4) if i % 2 else (A6, B6)
        pkt = c.echo_request(src, dst, 5, i, c.payload_bsd(), ttl=64 - i)
        if i % 7 == 3:
            pkt = c.gre(pkt, *O6)
        ts = T0 + i * 1_001_000_000  # whole milliseconds: every resolution keeps it exactly
        frame = c.Frame(c.link(lk, pkt)[1], ts, c.LINKTYPES[lk], iface=links.index(lk))
        mixed.append(frame)
        per_link[lk].append((i + 1, frame))
    path = tmp_path / "mixed.pcapng"
    c.write_pcapng(path, mixed, interfaces)
    records = _decode(path).records
    got = dict(zip(frame_numbers(records, mixed), records))
    assert sorted(got) == list(range(1, 21))
    for lk, frames in per_link.items():
        p = tmp_path / f"{lk}.pcap"
        c.write_pcap(p, [f for _, f in frames], nano=True)
        for (n, _), r in zip(frames, _decode(p).records, strict=True):
            want = dict(r, frame=n) if "frame" in r else r
            assert got[n] == want, lk


# ---------------------------------------------------------------------------------------------
# VLAN ids and tunnel names in the record

NAMED = [
    ("802.1Q", lambda p: c.ethernet(p, vlans=[120]), [120], []),
    ("802.1ad", lambda p: c.ethernet(p, vlans=[300, 120], stag=True), [300, 120], []),
    ("3 tags", lambda p: c.ethernet(p, vlans=[300, 120, 7], stag=True), [300, 120, 7], []),
    ("vxlan", lambda p: c.ethernet(c.vxlan(c.ethernet(p, vlans=[42]), *O4), vlans=[5]), [5, 42],
     ["vxlan"]),
    ("gre_teb", lambda p: c.ethernet(c.gre_teb(c.ethernet(p), *O4)), [], ["gre"]),
    ("gre_ip", lambda p: c.ethernet(c.gre(p, *O6)), [], ["gre"]),
    ("erspan2", lambda p: c.ethernet(c.erspan2(c.ethernet(p, vlans=[7]), *O4, vlan=7)), [7],
     ["erspan2"]),
    ("erspan3", lambda p: c.ethernet(c.erspan3(c.ethernet(p), *O4)), [], ["erspan3"]),
    ("ipip", lambda p: c.ethernet(c.ip_in_ip(p, *O4)), [], None),
    ("ip_in_ip6", lambda p: c.ethernet(c.ip_in_ip(p, *O6)), [], None),
    ("gre+ipip", lambda p: c.ethernet(c.gre(c.ip_in_ip(p, *O4), *O4)), [], None),
    ("vxlan+gre", lambda p: c.ethernet(c.vxlan(c.ethernet(c.gre(p, *O6)), *O4)), [], None),
]
IPIP_NAME = {(4, 4): "ipip", (6, 4): "ip6in4", (4, 6): "ip4in6", (6, 6): "ip6in6"}  # (inner, outer)


def _expected_encap(name: str, v: int) -> list[str]:
    if name == "ipip":
        return [IPIP_NAME[(v, 4)]]
    if name == "ip_in_ip6":
        return [IPIP_NAME[(v, 6)]]
    if name == "gre+ipip":
        return ["gre", IPIP_NAME[(v, 4)]]
    if name == "vxlan+gre":
        return ["vxlan", "gre"]
    raise AssertionError(name)


@pytest.mark.parametrize("v", [4, 6])
@pytest.mark.parametrize("name,build,vlans,encap", NAMED, ids=[n[0] for n in NAMED])
def test_vlans_and_tunnels_in_record(tmp_path, name, build, vlans, encap, v):
    src, dst = (A4, B4) if v == 4 else (A6, B6)
    path = tmp_path / "named.pcap"
    c.write_pcap(path, [c.Frame(build(c.echo_request(src, dst, 3, 4, c.payload_windows())), T0)],
                 nano=True)
    records = _decode(path).records
    assert len(records) == 1
    r = records[0]
    assert (r["src_ip"], r["dst_ip"], r["icmp_id"], r["icmp_seq"]) == (src, dst, 3, 4)
    assert r["vlan_ids"] == vlans
    assert r["encapsulation"] == (encap if encap is not None else _expected_encap(name, v))
    assert first_error("icmp_record.schema.json", r) is None


# ---------------------------------------------------------------------------------------------
# the shipped samples


@pytest.mark.parametrize("name", SAMPLE_FILES)
def test_sample_records_follow_the_schema(samples_dir, name):
    result = _decode(samples_dir / name)
    assert result.records, name
    assert not result.account.malformed, result.account.as_dict()
    for r in result.records:
        err = first_error("icmp_record.schema.json", r)
        assert err is None, f"{name} frame {r.get('frame')}: {err}"


@pytest.mark.parametrize("name", SAMPLE_FILES)
def test_sample_through_the_cli(samples_dir, run_oddping, name):
    proc = run_oddping("decode", samples_dir / name, "--sensor-id", "test")
    err = proc.stderr.decode(errors="replace")
    assert proc.returncode == 0, err
    assert _jsonl(proc.stdout) == _roundtrip(_decode(samples_dir / name).records)


@pytest.mark.parametrize("name", SAMPLE_FILES)
def test_sample_decodes_alike_without_the_fast_path(samples_dir, name, monkeypatch):
    """The decoder's one-unpack path for plain Ethernet/IPv4/ICMP frames changes nothing."""
    from producer.decode.decoder import Decoder

    fast = _decode(samples_dir / name)
    monkeypatch.setattr(Decoder, "_ethernet_ipv4_icmp", lambda self, data, ts_ns: None)
    layered = _decode(samples_dir / name)
    assert fast.records == layered.records
    assert fast.account.as_dict() == layered.account.as_dict()


def test_samples_regenerate_byte_for_byte(samples_dir, tmp_path):
    from samples.generate import generate

    for p in generate(tmp_path):
        shipped = samples_dir / p.name
        assert shipped.read_bytes() == p.read_bytes(), f"{p.name}: run python samples/generate.py"
        assert shipped.stat().st_size < 100_000


def test_footprints_sample_shows_the_seed_case(samples_dir):
    records = _decode(samples_dir / "footprints.pcap").records
    tiny = [r for r in records if r["kind"] == "icmp" and r["icmp_type"] == 8
            and r["payload_len"] == 2]
    assert tiny, "no Footprints echoes"
    for r in tiny:
        assert (r["ttl"], r["ip_total_len"], r["eth_padding_len"]) == (28, 30, 16)
        assert r["payload_sha256"] == "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"
    by_host: dict[str, list[dict]] = {}
    for r in tiny:
        by_host.setdefault(r["src_ip"], []).append(r)
    assert sorted(by_host) == ["10.20.0.15", "10.20.0.16", "10.20.0.17"]
    for host, rs in by_host.items():
        assert len({r["icmp_id"] for r in rs}) == 1, host
        assert len({r["dst_ip"] for r in rs}) == 3, host
        seqs = [r["icmp_seq"] for r in rs]
        assert seqs == sorted(seqs), host
        burst = rs[:6]
        assert [r["icmp_seq"] for r in burst] == list(range(burst[0]["icmp_seq"],
                                                             burst[0]["icmp_seq"] + 6))
        assert burst[0]["dst_ip"] == burst[3]["dst_ip"] != burst[1]["dst_ip"]
    replies = [r for r in records if r["kind"] == "icmp" and r["icmp_type"] == 0
               and r["payload_len"] == 2]
    assert len(replies) == len(tiny)
    syns = [r for r in records if r["kind"] == "host_observation" and r["src_ip"] in by_host]
    assert syns and all(r["ttl"] == 126 for r in syns)
    windows = [r for r in records if r["kind"] == "icmp" and r["icmp_type"] == 8
               and r["src_ip"] in by_host and r["payload_len"] == 32]
    assert windows and all(r["ttl"] == 126 for r in windows)
    linux = [r for r in records if r["kind"] == "icmp" and r["src_ip"] == "10.20.5.30"]
    assert len(linux) == 10 and all(r["ttl"] == 63 and r["payload_len"] == 56 for r in linux)


def test_payload_classes_of_mixed_sample(samples_dir):
    from oddping.payload_classes import PAYLOAD_CLASSES

    contract = set(PAYLOAD_CLASSES)
    records = _decode(samples_dir / "mixed-small.pcap.gz").records
    echo = [r for r in records if r["kind"] == "icmp" and r["icmp_id"] is not None]
    assert echo
    assert {r["payload_class"] for r in echo} <= contract
    # every sender of samples/generate.py's mixed_frames() named for what it is
    requests: dict[str, set[str]] = {}
    for r in echo:
        if r["icmp_type"] in (8, 128):
            requests.setdefault(r["src_ip"], set()).add(r["payload_class"])
    assert requests == MIXED_SAMPLE_CLASSES


#: source -> the classes of its echo requests in mixed-small.pcap.gz.  The nemesis and
#: Broadscan smurf senders (.20, .23) go out with sequence 9 and 12, not 0: on the wire they are
#: only zero bytes, not those tools.
MIXED_SAMPLE_CLASSES = {
    "10.30.0.11": {"windows"}, "10.30.0.12": {"linux_iputils", "traceroute_linux"},
    "10.30.0.13": {"bsd", "mtr"}, "10.30.0.14": {"busybox"}, "10.30.0.15": {"fping"},
    "10.30.0.16": {"cisco_ios"}, "10.30.0.17": {"single_question"},
    "10.30.0.18": {"empty", "nmap_os_detection"}, "10.30.0.19": {"empty"},
    "10.30.0.20": {"zeros"}, "10.30.0.21": {"icmpenum"}, "10.30.0.22": {"superscan"},
    "10.30.0.23": {"zeros"}, "10.30.0.24": {"windows_snort_0123"}, "10.30.0.25": {"cyberkit"},
    "10.30.0.26": {"sniffer_pro"}, "10.30.0.27": {"l3retriever"},
    "10.30.0.28": {"delphi_piette"}, "10.30.0.29": {"iss_pinger"}, "10.30.0.30": {"whatsup"},
    "10.30.0.31": {"ptunnel"}, "10.30.0.32": {"ptunnel_ng"}, "10.30.0.33": {"icmptunnel"},
    "10.30.0.34": {"hans"}, "10.30.0.35": {"pingtunnel"}, "10.30.0.36": {"printable_text"},
    "10.30.0.37": {"zeros"}, "10.30.0.38": {"counting_fill"},
    "2001:db8:30::12": {"linux_iputils"}, "2001:db8:30::11": {"windows"},
}


def test_bpf_filter_selects_the_same_records(samples_dir, run_oddping):
    """The seed's tcpdump filter: IPv4 ICMP with total length below 40."""
    expression = "icmp and ip[2:2] < 40"
    everything = _decode(samples_dir / "footprints.pcap").records
    want = [r for r in everything
            if r["kind"] == "icmp" and r["ip_version"] == 4 and r["ip_total_len"] < 40]
    result = _decode(samples_dir / "footprints.pcap", bpf=expression)
    assert result.records == want
    assert result.account.packets_read == 236
    proc = run_oddping("decode", samples_dir / "footprints.pcap", "--bpf", expression,
                       "--sensor-id", "test")
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert _jsonl(proc.stdout) == _roundtrip(want)
