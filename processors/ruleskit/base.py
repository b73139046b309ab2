"""What every rule module is made of: metadata, tunables, and a detector with event handlers.

A rule module reads like a Zeek policy script with Sigma/Elastic metadata on top:

* the module docstring says what it detects and why;
* ``METADATA`` (:class:`RuleMetadata`) carries id, title, severity, ATT&CK, false positives,
  references and a short triage guide: what SIEM content and the README show;
* ``EXAMPLES`` (:class:`Example`, made with :func:`fires` and :func:`trap`): captures the
  rule must fire on and traps it must stay quiet on, run by tests/rules/test_examples.py;
* ``Tunables`` (a :class:`RuleTunables` subclass) is the rule's ``[rules.<id>]`` config section,
  every field documented with its default;
* ``Detector`` (a :class:`Detector` subclass) has one method per event it handles, named
  ``on_<event>`` (``on_echo_request``, ``on_echo_reply``, ``on_hop_distance_learned``...), each
  taking ``(host, record, context)`` and returning findings, plus ``summary(window)``: the one
  sentence an analyst reads.  What ``record`` and ``context`` are for each event
  (:data:`HANDLER_ARGUMENTS`):

  ======================  ============================================  ========================
  event                   record                                        context
  ======================  ============================================  ========================
  echo_request            ``icmp``, type 8 (ICMPv6 128)                 True when this request
                                                                        taught the host's hop
                                                                        distance for the first
                                                                        time, else False
  echo_reply              ``icmp``, type 0 (ICMPv6 129); the host is    the SeenRequest it
                          its destination (the initiator)               answers, or None
  time_exceeded           ``icmp``, type 11 (ICMPv6 3), to the host     None
  host_observation        ``host_observation`` (a TCP SYN)              True when it taught the
                                                                        hop distance first, else
                                                                        False
  fragment_anomaly        ``fragment_anomaly`` (producer reassembly)    None
  hop_distance_learned    the echo_request or host_observation record   None
                          that taught the hop distance (raised by the
                          engine after that record's own handlers)
  reply_paired_late       an echo reply that found no request, as       the SeenRequest it
                          remembered (processors/state/pairing.py),     answers
                          when its request comes (another sensor's,
                          late); before the request's own handlers
  reply_unanswered        an echo reply that found no request, as       when its sensor had
                          remembered, once no request can come for it   last seen the host
                          within ``sensor_late_bound_s`` of the         send, at the reply
                          host's time (or its windows all close)        (ns), or None
  ======================  ============================================  ========================

  ``host`` is the initiator's HostState after the event's tracker ran (processors/state/
  track.py).  A packet another sensor also captured is handled once: its copies reach no
  handler.
* ``facts`` a handler gives a finding merge into the alert window by the declared policy
  ``processors.findings.FACT_MERGES``: ``max_*`` facts keep the largest value, all others the
  first finding's.  A detector whose record handlers only ever fire on some payload
  classes says so in ``fires_on(payload_class)``, and the engine does not call them for the
  others.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Iterable, Literal

from pydantic import BaseModel, ConfigDict, Field

from processors.events import ALL_EVENTS
from processors.findings import AlertWindow, Finding
from processors.networks import InternalNetworks
from processors.state.host import HostState

Severity = Literal["low", "medium", "high", "critical"]
#: how far a rule has come (Sigma's status): experimental (new, may be noisy), test (tuned on
#: real captures, still changing), stable (its examples and false positives are settled)
Status = Literal["experimental", "test", "stable"]

#: event -> (the record a handler gets, the context it gets): the table in the docstring
HANDLER_ARGUMENTS: dict[str, tuple[str, str]] = {
    "echo_request": ("icmp record, echo request", "bool: hop distance learned by it first"),
    "echo_reply": ("icmp record, echo reply to the host", "SeenRequest answered, or None"),
    "time_exceeded": ("icmp record, Time Exceeded to the host", "None"),
    "host_observation": ("host_observation record (TCP SYN)", "bool: hop distance learned"),
    "fragment_anomaly": ("fragment_anomaly record", "None"),
    "hop_distance_learned": ("the record that taught the hop distance", "None"),
    "reply_paired_late": ("echo reply processed before its request, as remembered",
                          "SeenRequest answered"),
    "reply_unanswered": ("echo reply no request answered within the late bound",
                         "int | None: its sensor last saw the host send (ns), at the reply"),
}

#: What a handler returns when nothing matched: an empty tuple costs nothing to iterate.
NOTHING: tuple[Finding, ...] = ()

Handler = Callable[[HostState, dict[str, Any], Any], Iterable[Finding]]


@dataclass(frozen=True, slots=True)
class Reference:
    """A source behind a rule: its title, and its address (None for a tool or a signature set
    that has no one page to point at)."""

    title: str
    url: str | None = None


@dataclass(frozen=True, slots=True)
class RuleMetadata:
    id: str
    title: str
    description: str
    severity: Severity
    #: MITRE ATT&CK technique ids (T1095, T1595.001...)
    attack: tuple[str, ...]
    false_positives: tuple[str, ...]
    references: tuple[Reference, ...]
    #: what an analyst should check first, in order
    triage: tuple[str, ...]
    #: maturity (Sigma's status); alerts carry it as ``rule_status``
    status: Status = "experimental"
    #: revision (Suricata's rev): raised whenever what fires changes; alerts carry it as
    #: ``rule_rev``, ECS as ``rule.version``, OCSF as ``finding_info.analytic.version``
    rev: int = 1
    #: what the rule needs to see to work at all (which records, from which sensor)
    data_requirements: tuple[str, ...] = ()
    #: what a responder does once triage says the alert is real, in order
    response: tuple[str, ...] = ()

    @property
    def urls(self) -> tuple[str, ...]:
        """The references' addresses, in order."""
        return tuple(ref.url for ref in self.references if ref.url)


@dataclass(frozen=True, slots=True)
class Example:
    """A capture the rule must fire on (``fires``), or a trap it must stay quiet on.

    ``scenario`` names a function of the record kit (``samples/records.py``) that builds the
    capture from real payload bytes through the producer's classifier; ``kwargs`` are its
    arguments.  tests/rules/test_examples.py scans every rule's examples with the default
    configuration.
    """

    title: str
    scenario: str
    fires: bool = True
    kwargs: tuple[tuple[str, Any], ...] = ()
    #: whether the first firing example joins the zoo of every rule's alerts scanned together
    #: (False for a flood, which folds the findings of the hosts it covers)
    zoo: bool = True


def fires(title: str, scenario: str, *, zoo: bool = True, **kwargs: Any) -> Example:
    """An example the rule must fire on."""
    return Example(title, scenario, True, tuple(sorted(kwargs.items())), zoo)


def trap(title: str, scenario: str, **kwargs: Any) -> Example:
    """A trap: a capture the rule must stay quiet on."""
    return Example(title, scenario, False, tuple(sorted(kwargs.items())))


class RuleTunables(BaseModel):
    """Settings every rule has.  A rule's own ``Tunables`` add to these."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="run this rule")
    severity: Severity | None = Field(
        None, description="override the rule's default severity (low, medium, high, critical)"
    )
    alert_window_s: float = Field(
        900.0,
        gt=0,
        le=86_400,
        description="at most one alert per host (and key) per window of this many seconds of"
        " capture time; windows are aligned to the epoch and the alert is emitted when capture"
        " time passes the window's end",
    )
    evidence_limit: int = Field(
        10, ge=0, le=100, description="packets kept as evidence in one alert"
    )


class Detector:
    """Base of every rule's detector.  Subclasses set ``metadata`` and define ``on_<event>``.

    Handlers run for every packet: a tunable they read each time is copied to a plain attribute
    in ``__init__`` (a pydantic model's attribute costs several times as much to read).
    """

    metadata: ClassVar[RuleMetadata]
    #: TTL and payload judgements a traceroute run explains away (see HostState.traceroute_*)
    dismissed_by_traceroute: ClassVar[bool] = False
    #: the organisation's own networks (``[networks] internal``; build_detectors sets them):
    #: ``address in self.internal``
    internal: InternalNetworks = InternalNetworks()

    def __init__(self, tunables: RuleTunables) -> None:
        self.tunables = tunables
        self.rule_id = self.metadata.id
        self.severity: str = tunables.severity or self.metadata.severity

    def handlers(self) -> dict[str, Handler]:
        """event name -> bound handler, for the events this detector defines ``on_<event>`` for."""
        found = {}
        for event in ALL_EVENTS:
            handler = getattr(self, f"on_{event}", None)
            if handler is not None:
                found[event] = handler
        return found

    def fires_on(self, payload_class: str) -> bool:
        """Whether this detector's handlers for ICMP records can find anything in a record of
        this payload class.  The engine skips them for the classes where they cannot (an
        ordinary ping need not visit the payload rules), so this must be exact: False only
        where every handler would return nothing and change no state.  The engine asks once
        per class, not per record.  Default: every class.
        """
        return True

    def finding(
        self,
        record: dict[str, Any],
        key: str = "",
        facts: dict[str, Any] | None = None,
        note: str | Callable[[], str] | None = None,
    ) -> tuple[Finding]:
        return (Finding(self.rule_id, record, key, facts, note),)

    def summary(self, window: AlertWindow) -> str:
        raise NotImplementedError

    def dismissal(self, host: HostState, window: AlertWindow) -> str | None:
        """A reason to drop a window at close instead of alerting, or None to alert.

        Findings are judged packet by packet, but some patterns only show later: the first
        probes of a traceroute look like odd TTLs until the next probe steps the TTL up.
        """
        if self.dismissed_by_traceroute and not window.icmp_ids_truncated:
            if host.traceroute_explains(
                window.icmp_ids, window.ttl_max, window.first_ns, window.last_ns
            ):
                return "traceroute"
        return None
