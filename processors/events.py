"""Which event a record is, by table: (kind, IP version, ICMP type) -> event name.

Rules subscribe to these names the way Zeek scripts handle ``icmp_echo_request`` and friends;
the engine looks the name up once per record and calls only the subscribed handlers.
"""

from __future__ import annotations

ECHO_REQUEST = "echo_request"
ECHO_REPLY = "echo_reply"
TIME_EXCEEDED = "time_exceeded"
HOST_OBSERVATION = "host_observation"
#: A fragment anomaly the producer's reassembly found (record kind fragment_anomaly).
FRAGMENT_ANOMALY = "fragment_anomaly"
#: Raised by the engine (not by a record) when a host's learned hop distance changes.
HOP_DISTANCE_LEARNED = "hop_distance_learned"
#: Raised by the engine for an echo reply processed before the request it answers (another
#: sensor's, late), when that request comes (processors/state/pairing.py).
REPLY_PAIRED_LATE = "reply_paired_late"
#: Raised by the engine for an echo reply no request answered within the late bound of the
#: host's own time (processors/state/pairing.py): only then is it known to be unanswered.
REPLY_UNANSWERED = "reply_unanswered"

ALL_EVENTS = (
    ECHO_REQUEST, ECHO_REPLY, TIME_EXCEEDED, HOST_OBSERVATION, HOP_DISTANCE_LEARNED,
    FRAGMENT_ANOMALY, REPLY_PAIRED_LATE, REPLY_UNANSWERED,
)

#: (ip_version, icmp_type) -> event.  ICMPv6 numbers its messages differently (RFC 4443).
ICMP_EVENTS: dict[tuple[int, int], str] = {
    (4, 8): ECHO_REQUEST,
    (4, 0): ECHO_REPLY,
    (4, 11): TIME_EXCEEDED,
    (6, 128): ECHO_REQUEST,
    (6, 129): ECHO_REPLY,
    (6, 3): TIME_EXCEEDED,
}
