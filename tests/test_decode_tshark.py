"""Differential test: oddping's decoder against tshark on the same crafted captures.

For every link layer x encapsulation x IP version, a request (2-byte payload, so Ethernet pads
it), a reply (56-byte Linux payload) and an ICMP error quoting the request are written to one
nanosecond pcap per link layer.  tshark decodes each file once; for every frame in which tshark
finds ICMP, oddping must emit exactly one record whose addresses, TTL / hop limit, type, code,
identifier, sequence, payload length, checksum verdict, IP id / DF, Ethernet padding and
timestamp (to the nanosecond) equal tshark's reading of the IP header that carries the ICMP
(the innermost tunnel layer, not a packet quoted inside an ICMP error).

Every frame has its own timestamp, so a record is matched to its frame by ``ts_ns`` (and by
``frame`` as well, should records carry the frame number).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from samples import craft as c

# loopback_swapped: DLT_NULL whose family is in the other byte order than the file's header
# (captured on a host of the other endianness, or rewritten by a tool); tshark reads both
LINKS = ["ethernet", "linux_sll", "linux_sll2", "raw", "loopback", "loopback_swapped"]
ENCAPS = [
    "none", "vlan", "qinq", "vlan3", "options", "fragments", "fragments_reversed",
    "vxlan", "vxlan6", "gre_teb", "gre", "gre6",
    "erspan2", "erspan3", "erspan3_platform", "ipip4", "ipip6",
]
ETHERNET_ONLY = {"vlan", "qinq", "vlan3"}
SWAPPED_ONLY = {"none", "options", "fragments", "tcp_syn"}  # enough to show the byte order works


def wanted(link: str, encap: str) -> bool:
    if encap in ETHERNET_ONLY:
        return link == "ethernet"
    return link != "loopback_swapped" or encap in SWAPPED_ONLY

HOSTS = {4: ("10.20.0.15", "13.107.4.52"), 6: ("2001:db8:10::15", "2001:db8:20::52")}
ROUTER = {4: "198.51.100.1", 6: "2001:db8:10::1"}
OUTER = {4: ("192.0.2.1", "192.0.2.2"), 6: ("2001:db8:ffff::1", "2001:db8:ffff::2")}

T0 = 1_678_784_400_000_000_000
STEP_NS = 1_000_000_007  # every frame gets a distinct nanosecond fraction

EXPECTED_VLANS = {"vlan": [120], "qinq": [300, 120], "vlan3": [300, 120, 7]}
# names from schemas/icmp_record.schema.json: (inner IP version) -> name
EXPECTED_ENCAP = {
    "vxlan": {4: ["vxlan"], 6: ["vxlan"]},
    "vxlan6": {4: ["vxlan"], 6: ["vxlan"]},
    "gre_teb": {4: ["gre"], 6: ["gre"]},
    "gre": {4: ["gre"], 6: ["gre"]},
    "gre6": {4: ["gre"], 6: ["gre"]},
    "erspan2": {4: ["erspan2"], 6: ["erspan2"]},
    "erspan3": {4: ["erspan3"], 6: ["erspan3"]},
    "erspan3_platform": {4: ["erspan3"], 6: ["erspan3"]},
    "ipip4": {4: ["ipip"], 6: ["ip6in4"]},  # IPv4 outer: IPIP (proto 4), 6in4 (proto 41)
    "ipip6": {4: ["ip4in6"], 6: ["ip6in6"]},  # IPv6 outer: 4in6, 6in6
}


# "ns": nanosecond pcap (oddping's streaming reader); "us": microsecond pcap (the libpcap path
# with its BPF prefilter), so both readers are compared with tshark
FORMATS = ["ns", "us"]


def cases() -> list[tuple[str, str, str, int]]:
    return [(fmt, lk, enc, v) for fmt in FORMATS for lk in LINKS for enc in ENCAPS + ["tcp_syn"]
            for v in (4, 6) if wanted(lk, enc)]


def case_id(case: tuple[str, str, str, int]) -> str:
    return f"{case[0]}-{case[1]}-{case[2]}-v{case[3]}"


# ---------------------------------------------------------------------------------------------
# crafting


def inner_packets(encap: str, v: int, n: int) -> list[bytes]:
    """The IP packets of one case (before tunnelling): request, reply, error (or a SYN)."""
    src, dst = HOSTS[v]
    if encap == "tcp_syn":
        return [c.tcp_syn(src, dst, 50000 + n, 443, ttl=126 if v == 4 else 62)]
    ident, seq = 0x1000 + n, n
    kw_req: dict = {"ip_id": 0x2000 + n} if v == 4 else {}
    kw_rep: dict = {"ip_id": 0x3000 + n} if v == 4 else {}
    if encap == "options":
        if v == 4:
            kw_req["options"] = b"\x94\x04\x00\x00"  # router alert
            kw_rep["options"] = b"\x01\x01\x01\x00"  # NOPs and end of options
        else:
            kw_req["ext"] = [c.hop_by_hop(), c.dest_options()]
            kw_rep["ext"] = [c.dest_options(b"\x1e\x02\xab\xcd")]
    fragments = encap.startswith("fragments")
    payload_req = c.payload_large(1000) if fragments else c.payload_zeros(2)
    req = c.echo_request(src, dst, ident, seq, payload_req, ttl=28, df=(n % 2 == 0), **kw_req)
    rep = c.echo_reply(dst, src, ident, seq, c.payload_linux(1678784400.5), ttl=115, **kw_rep)
    if v == 4:
        err = c.time_exceeded(ROUTER[4], src, req[:48], ttl=254, ip_id=0x4000 + n)
    else:
        err = c.dest_unreachable(dst, src, req[:200], ttl=60)
    if fragments:
        big_rep = c.echo_reply(dst, src, ident, seq, c.payload_large(900), ttl=115, **kw_rep)
        if v == 4:
            req_frags, rep_frags = c.fragment_ipv4(req, 400), c.fragment_ipv4(big_rep, 304)
        else:
            req_frags = c.fragment_ipv6(req, 400, ident=0xF000 + n)
            rep_frags = c.fragment_ipv6(big_rep, 304, ident=0xE000 + n)
        if encap == "fragments_reversed":  # last fragment first, as reordering networks do
            req_frags = req_frags[::-1]
            rep_frags = [rep_frags[1], rep_frags[2], rep_frags[0]]
        return req_frags + rep_frags + [err]
    return [req, rep, err]


def wrap(encap: str, pkt: bytes) -> bytes:
    """Put one IP packet into the case's tunnel; the result is an IP packet or an Ethernet frame
    (for vlan/qinq, where the caller must use an Ethernet link)."""
    o4, o6 = OUTER[4], OUTER[6]
    match encap:
        case "vlan":
            return c.ethernet(pkt, vlans=[120])
        case "qinq":
            return c.ethernet(pkt, vlans=[300, 120], stag=True)
        case "vlan3":
            return c.ethernet(pkt, vlans=[300, 120, 7], stag=True)
        case "vxlan":
            return c.vxlan(c.ethernet(pkt), *o4, vni=7001)
        case "vxlan6":
            return c.vxlan(c.ethernet(pkt), *o6, vni=7002)
        case "gre_teb":
            return c.gre_teb(c.ethernet(pkt), *o4, key=99)
        case "gre":
            return c.gre(pkt, *o4)
        case "gre6":
            return c.gre(pkt, *o6, seq=7)
        case "erspan2":
            return c.erspan2(c.ethernet(pkt), *o4, session=5, seq=11)
        case "erspan3":
            return c.erspan3(c.ethernet(pkt), *o4, session=6, seq=12, timestamp=0x01020304)
        case "erspan3_platform":
            return c.erspan3(c.ethernet(pkt), *o6, session=7, seq=13, platform=3 << 58 | 0xBEEF)
        case "ipip4":
            return c.ip_in_ip(pkt, *o4)
        case "ipip6":
            return c.ip_in_ip(pkt, *o6)
    return pkt


@dataclass
class LinkCapture:
    path: Path
    frames_of: dict[tuple[str, int], list[int]]  # (encap, version) -> frame numbers
    ts_of: dict[int, int]  # frame number -> ts_ns written

    def frame_of(self, record: dict) -> int:
        """The frame a record came from, by its (unique) timestamp."""
        matches = [n for n, ts in self.ts_of.items() if ts == record["ts_ns"]]
        assert len(matches) == 1, f"ts_ns {record['ts_ns']} matches frames {matches}"
        if "frame" in record:
            assert record["frame"] == matches[0], "the record's frame number is wrong"
        return matches[0]


def build_link_capture(link: str, fmt: str, directory: Path) -> LinkCapture:
    frames: list[c.Frame] = []
    frames_of: dict[tuple[str, int], list[int]] = {}
    linktype = c.LINKTYPES[link.replace("_swapped", "")]
    n = 0
    for encap in ENCAPS + ["tcp_syn"]:
        for v in (4, 6):
            if not wanted(link, encap):
                continue
            n += 1
            numbers = frames_of.setdefault((encap, v), [])
            for pkt in inner_packets(encap, v, n):
                wrapped = wrap(encap, pkt)
                if encap in ETHERNET_ONLY:
                    data = wrapped
                elif link == "loopback_swapped":
                    data = c.loopback(wrapped, big_endian=True)
                else:
                    data = c.link(link, wrapped)[1]
                ts = T0 + len(frames) * STEP_NS
                if fmt == "us":
                    ts -= ts % 1000
                frames.append(c.Frame(data, ts, linktype))
                numbers.append(len(frames))
    path = directory / f"{link}-{fmt}.pcap"
    c.write_pcap(path, frames, nano=fmt == "ns")
    return LinkCapture(path, frames_of, {i + 1: f.ts_ns for i, f in enumerate(frames)})


# ---------------------------------------------------------------------------------------------
# tshark

FIELDS = [
    "frame.number", "frame.time_epoch", "frame.protocols",
    "ip.src", "ip.dst", "ip.ttl", "ip.len", "ip.hdr_len", "ip.id", "ip.flags.df",
    "ip.reassembled.length",
    "ipv6.src", "ipv6.dst", "ipv6.hlim", "ipv6.plen", "ipv6.reassembled.length",
    "ipv6.hopopts.len_oct", "ipv6.dstopts.len_oct", "ipv6.fraghdr.ident",
    "icmp.type", "icmp.code", "icmp.ident", "icmp.seq", "icmp.checksum.status",
    "icmpv6.type", "icmpv6.code", "icmpv6.echo.identifier", "icmpv6.echo.sequence_number",
    "icmpv6.checksum.status",
    "eth.padding", "eth.trailer",
]


def run_tshark(tshark: str, path: Path) -> dict[int, dict[str, list[str]]]:
    cmd = [tshark, "-n", "-r", str(path), "-T", "fields", "-E", "separator=/t",
           "-E", "aggregator=|", "-E", "occurrence=a"]
    for f in FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rows = {}
    for line in out.splitlines():
        values = line.split("\t")
        row = {f: (v.split("|") if v else []) for f, v in zip(FIELDS, values)}
        rows[int(row["frame.number"][0])] = row
    return rows


def epoch_ns(text: str) -> int:
    sec, _, frac = text.partition(".")
    return int(sec) * 1_000_000_000 + int((frac + "000000000")[:9])


def _nth(row: dict[str, list[str]], name: str, i: int) -> str:
    return row[name][i]


def tshark_view(row: dict[str, list[str]]) -> dict | None:
    """What tshark says about the ICMP message of a frame and the IP header that carries it."""
    protos = row["frame.protocols"][0].split(":")
    at = next((i for i, p in enumerate(protos) if p in ("icmp", "icmpv6")), None)
    if at is None:
        return None
    k = max(i for i in range(at) if protos[i] in ("ip", "ipv6"))
    fam = protos[k]
    occ = protos[:k].count(fam)  # which occurrence of the ip/ipv6 fields is the carrying header
    padding = sum(len(x) // 2 for x in row["eth.padding"] + row["eth.trailer"])
    view: dict = {"ts_ns": epoch_ns(row["frame.time_epoch"][0]), "eth_padding_len": padding}
    if fam == "ip":
        view.update(
            ip_version=4, src_ip=_nth(row, "ip.src", occ), dst_ip=_nth(row, "ip.dst", occ),
            ttl=int(_nth(row, "ip.ttl", occ)), ip_id=int(_nth(row, "ip.id", occ), 16),
            df=_nth(row, "ip.flags.df", occ) in ("1", "True"),
            icmp_type=int(row["icmp.type"][0]), icmp_code=int(row["icmp.code"][0]),
            icmp_checksum_ok=row["icmp.checksum.status"][0] == "1",
        )
        if row["ip.reassembled.length"]:
            view["payload_len"] = int(row["ip.reassembled.length"][0]) - 8
        else:
            view["payload_len"] = (int(_nth(row, "ip.len", occ)) - int(_nth(row, "ip.hdr_len", occ))
                                   - 8)
        echo = view["icmp_type"] in (0, 8)
        view["icmp_id"] = int(row["icmp.ident"][0]) if echo else None
        view["icmp_seq"] = int(row["icmp.seq"][0]) if echo else None
    else:
        view.update(
            ip_version=6, src_ip=_nth(row, "ipv6.src", occ), dst_ip=_nth(row, "ipv6.dst", occ),
            ttl=int(_nth(row, "ipv6.hlim", occ)),
            icmp_type=int(row["icmpv6.type"][0]), icmp_code=int(row["icmpv6.code"][0]),
            icmp_checksum_ok=row["icmpv6.checksum.status"][0] == "1",
        )
        ext, frag_id = 0, None
        for j in range(k + 1, at):
            tok = protos[j]
            if tok == "ipv6.hopopts":
                ext += int(row["ipv6.hopopts.len_oct"][protos[:j].count(tok)])
            elif tok == "ipv6.dstopts":
                ext += int(row["ipv6.dstopts.len_oct"][protos[:j].count(tok)])
            elif tok == "ipv6.fraghdr":
                ext += 8
                frag_id = int(row["ipv6.fraghdr.ident"][protos[:j].count(tok)], 16)
        if row["ipv6.reassembled.length"]:
            view["payload_len"] = int(row["ipv6.reassembled.length"][0]) - 8
        else:
            view["payload_len"] = int(_nth(row, "ipv6.plen", occ)) - ext - 8
        view["ip_id"] = frag_id
        echo = view["icmp_type"] in (128, 129)
        view["icmp_id"] = int(row["icmpv6.echo.identifier"][0], 0) if echo else None
        view["icmp_seq"] = int(row["icmpv6.echo.sequence_number"][0], 0) if echo else None
    return view


def tshark_syn(row: dict[str, list[str]]) -> dict | None:
    protos = row["frame.protocols"][0].split(":")
    if "tcp" not in protos:
        return None
    k = max(i for i in range(protos.index("tcp")) if protos[i] in ("ip", "ipv6"))
    if protos[k] == "ip":
        occ = protos[:k].count("ip")
        return {"src_ip": row["ip.src"][occ], "dst_ip": row["ip.dst"][occ],
                "ttl": int(row["ip.ttl"][occ]), "ip_version": 4}
    occ = protos[:k].count("ipv6")
    return {"src_ip": row["ipv6.src"][occ], "dst_ip": row["ipv6.dst"][occ],
            "ttl": int(row["ipv6.hlim"][occ]), "ip_version": 6}


# ---------------------------------------------------------------------------------------------
# fixtures: one capture, one tshark run and one decode per link layer


@pytest.fixture(scope="module")
def per_link(tmp_path_factory, tshark):
    from producer import decode_file

    directory = tmp_path_factory.mktemp("tshark-diff")

    @cache
    def get(link: str, fmt: str):
        cap = build_link_capture(link, fmt, directory)
        result = decode_file(str(cap.path), sensor_id="test")
        return cap, run_tshark(tshark, cap.path), result

    return get


@pytest.mark.parametrize("case", cases(), ids=case_id)
def test_matches_tshark(per_link, case):
    fmt, link, encap, v = case
    cap, rows, result = per_link(link, fmt)
    assert result.error is None, result.error
    frames = cap.frames_of[(encap, v)]
    records = [(cap.frame_of(r), r) for r in result.records]
    records = [(f, r) for f, r in records if f in frames]

    if encap == "tcp_syn":
        expected = {f: tshark_syn(rows[f]) for f in frames}
        assert all(expected.values()), "tshark does not see the SYN: the crafted frame is wrong"
        got = dict(records)
        assert sorted(got) == frames, f"host observations for frames {sorted(got)}, want {frames}"
        for f, want in expected.items():
            r = got[f]
            assert r["kind"] == "host_observation"
            assert {k: r[k] for k in want} == want, f"frame {f}"
            assert r["ts_ns"] == cap.ts_of[f] == epoch_ns(rows[f]["frame.time_epoch"][0])
        return

    views = {f: tshark_view(rows[f]) for f in frames}
    icmp_frames = [f for f, view in views.items() if view is not None]
    assert len(icmp_frames) == 3, f"tshark should see 3 ICMP messages in {frames}: {views}"
    got = {}
    for f, r in records:
        assert f not in got, f"two records for frame {f}"
        got[f] = r
    assert sorted(got) == icmp_frames, (
        f"records for frames {sorted(got)}, tshark decodes ICMP in frames {icmp_frames}; "
        f"accounting {result.account.as_dict()}")
    for f in icmp_frames:
        want, r = views[f], got[f]
        assert r["kind"] == "icmp"
        assert want["ts_ns"] == cap.ts_of[f]
        have = {k: r[k] for k in want}
        if encap.startswith("fragments"):
            # reassembled datagrams have no padding of their own; tshark reports the last
            # fragment's frame
            want = {k: x for k, x in want.items() if k != "eth_padding_len"}
            have.pop("eth_padding_len")
        assert have == want, f"frame {f} ({link}/{encap}/IPv{v})"
        assert r["link"] == link.replace("_swapped", "")
        assert r["vlan_ids"] == EXPECTED_VLANS.get(encap, [])
        assert r["encapsulation"] == EXPECTED_ENCAP.get(encap, {}).get(v, [])
        assert r["fragmented"] == (encap.startswith("fragments")
                                   and r["icmp_type"] in (0, 8, 128, 129))


def test_every_case_balanced(per_link):
    for fmt in FORMATS:
        for link in LINKS:
            _, _, result = per_link(link, fmt)
            assert result.account.balanced(), (fmt, link, result.account.as_dict())
            assert not result.account.malformed, (fmt, link, result.account.as_dict())


# ---------------------------------------------------------------------------------------------
# timestamps from pcapng interfaces with different resolutions


def test_pcapng_timestamps_to_the_nanosecond(tmp_path, tshark):
    """Interfaces at 10^-6, 10^-9, 10^-3 and 2^-30 s: oddping's ts_ns equals tshark's
    frame.time_epoch and the written time truncated to the interface's resolution."""
    from producer import decode_file

    links = ["ethernet", "raw", "linux_sll2", "loopback", "linux_sll"]
    interfaces = [c.Interface(c.LINKTYPE_ETHERNET, 6, name="eth-us"),
                  c.Interface(c.LINKTYPE_RAW, 9, name="raw-ns"),
                  c.Interface(c.LINKTYPE_LINUX_SLL2, 9, name="sll2-ns"),
                  c.Interface(c.LINKTYPE_NULL, 3, name="lo-ms"),
                  c.Interface(c.LINKTYPE_LINUX_SLL, 0x80 | 30, name="sll-2^-30")]

    def truncated_ns(ts_ns: int, tsresol: int) -> int:
        if tsresol & 0x80:
            ticks = ts_ns * (1 << (tsresol & 0x7F)) // 1_000_000_000
            return ticks * 1_000_000_000 // (1 << (tsresol & 0x7F))
        step = 10 ** (9 - tsresol)
        return ts_ns // step * step

    frames = []
    for i in range(15):
        v = 4 if i % 2 == 0 else 6
        src, dst = HOSTS[v]
        iface = i % len(links)
        pkt = c.echo_request(src, dst, 7, i, c.payload_windows(), ttl=64)
        data = c.link(links[iface], pkt)[1]
        ts = T0 + i * 1_000_000_000 + 123_456_789 + i
        frames.append(c.Frame(data, ts, interfaces[iface].linktype, iface=iface))
    path = tmp_path / "multi.pcapng"
    c.write_pcapng(path, frames, interfaces)
    rows = run_tshark(tshark, path)
    result = decode_file(str(path), sensor_id="test")
    assert result.error is None
    assert len(result.records) == len(frames)
    for f, r in enumerate(result.records, start=1):
        assert r.get("frame", f) == f
        itf = (f - 1) % len(links)
        want = truncated_ns(frames[f - 1].ts_ns, interfaces[itf].tsresol)
        assert r["ts_ns"] == want == epoch_ns(rows[f]["frame.time_epoch"][0]), f"frame {f}"
        assert r["link"] == links[itf]
