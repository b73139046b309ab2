"""The payload classes: every ``payload_class`` value an ICMP record can carry (the contract).

One list for the whole tree.  The producer's classifier (producer/record/payload_signatures.py)
says how each class is recognised and emits only these names; the detection table
(processors/payloads.py) says what each means to a rule (family, sender, initial TTLs).
tests/test_payload_classes.py checks both against this list.  Adding a class is a row here,
a signature there and a row in the detection table.
"""

from __future__ import annotations

#: The class of every ICMP message that is not an echo request or reply.
NOT_ECHO = "not_echo"
#: Echo data that matches no signature.
UNKNOWN = "unknown"

#: class -> what its echo data looks like, in the classifier's documentation order
PAYLOAD_CLASSES: dict[str, str] = {
    "windows": (
        "32-byte \"abcdefghijklmnopqrstuvwabcdefghi\" (or any length of the repeating a..w "
        "pattern, ping -l)"
    ),
    "linux_iputils": (
        "16-byte (or 8-byte on 32-bit) timeval, then bytes counting up from 0x10 (0x08 for "
        "8-byte tv)"
    ),
    "counting_fill": (
        "bytes counting up from 0x00 from the first byte (iputils' fill without its timeval, "
        "ping -s < 16; a tool's counting fill)"
    ),
    "bsd": "8-byte timeval, then bytes counting up from 0x08 (FreeBSD/macOS ping)",
    "busybox": "4-byte microsecond counter then 0x00 fill (56 bytes)",
    "fping": "56 zero bytes (also busybox \"simple\" build)",
    "cisco_ios": "0xABCD repeated",
    "single_question": "one byte \"?\" (Windows DC-to-DC)",
    "traceroute_linux": "32 bytes 0x48..0x67 (\"HIJ...efg\")",
    "mtr": "36 zero bytes",
    "nmap_os_detection": "120 or 150 zero bytes with seq 295/296",
    "nemesis": "20 zero bytes, id 0, seq 0",
    "icmpenum": "empty, id 666",
    "superscan": "8 zero bytes",
    "broadscan_smurf": "4 bytes, id 0, seq 0",
    "empty": "0 bytes (nmap -PE / -sn, hping3 default)",
    "windows_snort_0123": "\"0123456789abcdefghijklmnop\" prefix",
    "cyberkit": "0xAA x16",
    "sniffer_pro": "\"Cinco Network, Inc.\"",
    "l3retriever": "\"ABCDEFGHIJKLMNOPQRSTUVWABCDEFGHI\"",
    "delphi_piette": "\"Pinging from Del\"",
    "iss_pinger": "\"ISSPNGRQ\"",
    "whatsup": "\"WhatsUp - A Netw\"",
    "ptunnel": "magic D5 20 08 80",
    "ptunnel_ng": "magic DE AD C0 DE",
    "icmptunnel": "data is a raw IPv4 packet (starts 0x45, valid header)",
    "hans": "\"hanc\" (client) / \"hans\" (server) + type byte",
    "pingtunnel": "protobuf: 0A 20 + 32 hex chars",
    "printable_text": "all printable ASCII (icmpsh-style command traffic) of 8+ bytes",
    "zeros": "all zero bytes, any other length",
    "ping_imitation": (
        "iputils/BSD counting bytes after leading bytes that are not a send time near the "
        "capture time (forged or random)"
    ),
    "unknown": "none of the above",
    "not_echo": "not an echo request/reply (errors and other types carry headers, not a fill)",
}
