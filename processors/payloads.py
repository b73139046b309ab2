"""What each payload class (the producer's classifier output) tells a rule.

The class names are the contract in ``oddping/payload_classes.py``; this table adds what
detection needs to know about each: which family it belongs to and, for operating-system pings,
which initial TTLs the sending stack uses.  Sources: the Snort/ET ICMP_INFO signatures, p0f, and
the tools' own source code (see /work/shared/reference/icmp-field-guide.md).
"""

from __future__ import annotations

from dataclasses import dataclass

# Families.  A rule's default class lists are built from these, so adding a class here is enough
# to teach every rule about it.
OS_PING = "os_ping"  # an operating system's own ping: ordinary
PING_TOOL = "ping_tool"  # a common admin tool (fping): ordinary shape, unusual volume
TRACEROUTE = "traceroute"  # TTL-stepping path tools
SCANNER = "scanner"  # scanners and packet crafters
MONITOR = "monitor"  # commercial network monitors and analysers of old
TUNNEL = "tunnel"  # ICMP tunnelling tools
UNATTRIBUTED = "unattributed"  # data that names no sender
NOT_ECHO = "not_echo"  # the class the producer gives every non-echo message


@dataclass(frozen=True, slots=True)
class PayloadClass:
    family: str
    #: the tool or stack, for alert summaries
    sender: str
    #: initial TTLs the sending stack uses (usually); empty when nothing is known
    initial_ttls: tuple[int, ...] = ()
    #: the data is written by one operating system's own ping, so it proves that OS's stack
    #: (and its initial TTL) sent it.  Only such classes may accuse a TTL (os_ttl_mismatch) or
    #: teach a host's hop distance.  A multi-platform tool's data (fping, busybox) proves
    #: nothing about the stack below it, whatever TTL it usually has.
    proves_os: bool = False


PAYLOAD_CLASSES: dict[str, PayloadClass] = {
    "windows": PayloadClass(OS_PING, "Windows ping", (128,), proves_os=True),
    "linux_iputils": PayloadClass(OS_PING, "Linux iputils ping", (64,), proves_os=True),
    "bsd": PayloadClass(OS_PING, "FreeBSD/macOS ping", (64,), proves_os=True),
    # busybox is a userland built for Linux, Android, even Windows (busybox-w32): a tool
    "busybox": PayloadClass(OS_PING, "busybox ping", (64,)),
    "cisco_ios": PayloadClass(OS_PING, "Cisco IOS ping", (255, 254), proves_os=True),
    # Windows 95/98/NT4 started at 32; the "0123..." data is the old Windows signature.
    "windows_snort_0123": PayloadClass(OS_PING, "older Windows ping", (128, 32), proves_os=True),
    "single_question": PayloadClass(OS_PING, "Windows domain controller ping", (128,),
                                    proves_os=True),
    # fping runs on Linux, BSD, macOS and Windows (Cygwin, WSL): 64 is only its usual stack
    "fping": PayloadClass(PING_TOOL, "fping (or busybox simple ping)", (64,)),
    # carries nothing but its length; iputils' own fill (ping -s below 16) and tools' fills
    "counting_fill": PayloadClass(PING_TOOL, "counting bytes from 0x00 (iputils' fill)"),
    "traceroute_linux": PayloadClass(TRACEROUTE, "Linux traceroute -I"),
    "mtr": PayloadClass(TRACEROUTE, "mtr"),
    "nmap_os_detection": PayloadClass(SCANNER, "nmap OS detection"),
    "nemesis": PayloadClass(SCANNER, "nemesis"),
    "icmpenum": PayloadClass(SCANNER, "icmpenum"),
    "superscan": PayloadClass(SCANNER, "SuperScan"),
    "broadscan_smurf": PayloadClass(SCANNER, "Broadscan smurf"),
    "empty": PayloadClass(SCANNER, "nmap -PE/-sn or hping3 (no data)"),
    "cyberkit": PayloadClass(SCANNER, "CyberKit"),
    "l3retriever": PayloadClass(SCANNER, "L3 Retriever"),
    "iss_pinger": PayloadClass(SCANNER, "ISS Pinger"),
    "sniffer_pro": PayloadClass(MONITOR, "Sniffer Pro"),
    "delphi_piette": PayloadClass(MONITOR, "Delphi Piette pinger"),
    "whatsup": PayloadClass(MONITOR, "WhatsUp"),
    "ptunnel": PayloadClass(TUNNEL, "ptunnel"),
    "ptunnel_ng": PayloadClass(TUNNEL, "ptunnel-ng"),
    "icmptunnel": PayloadClass(TUNNEL, "icmptunnel"),
    "hans": PayloadClass(TUNNEL, "hans"),
    "pingtunnel": PayloadClass(TUNNEL, "pingtunnel"),
    "printable_text": PayloadClass(UNATTRIBUTED, "printable text (icmpsh-style)"),
    "zeros": PayloadClass(UNATTRIBUTED, "zero bytes of no known tool's length"),
    "ping_imitation": PayloadClass(
        UNATTRIBUTED, "ping's counting bytes after a forged timestamp (a ping look-alike)"
    ),
    "unknown": PayloadClass(UNATTRIBUTED, "no known sender"),
    "not_echo": PayloadClass(NOT_ECHO, "not an echo message"),
}

_UNLISTED = PayloadClass(UNATTRIBUTED, "unlisted payload class")


def describe(payload_class: str) -> PayloadClass:
    """The table row for a class; a class newer than this table counts as unattributed."""
    return PAYLOAD_CLASSES.get(payload_class, _UNLISTED)


def classes_of(*families: str) -> list[str]:
    """Class names in the given families, in table order (for tunable defaults)."""
    return [name for name, row in PAYLOAD_CLASSES.items() if row.family in families]


#: Initial TTLs real stacks start from (p0f, the field guide): 64, 128, 255 nearly always; 32 for
#: very old Windows; 60, 200 and 254 on a few devices.
NORMAL_INITIAL_TTLS: tuple[int, ...] = (32, 60, 64, 128, 200, 254, 255)
