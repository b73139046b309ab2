"""What may this principal do?  Ask the broker before starting, and say what is missing.

Each client lists the rights it needs (a table per client below).  `check` asks the broker what
the principal may do on each resource (DescribeTopics / DescribeGroups with the authorized
operations, and CreateTopics with validate_only for a topic that does not exist yet) and raises
KafkaUnavailable with one line naming the first missing right and its resource, e.g.

    User:sensor may not READ topic 'icmp.records' (and may not see it: no DESCRIBE either)

A broker without an authorizer reports no operations at all: then there is nothing to check.
`explain` turns the authorization errors clients meet later (a right taken away while running)
into the same kind of line.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException, TopicCollection
from confluent_kafka.admin import AclOperation, AdminClient, NewTopic

from .config import KafkaSettings, Settings
from .kafka import ErrorCollector, KafkaUnavailable, client_config, preflight

TOPIC, GROUP = "topic", "group"
R, W, D = AclOperation.READ, AclOperation.WRITE, AclOperation.DESCRIBE


@dataclass(frozen=True)
class Need:
    kind: str  # TOPIC or GROUP
    name: str
    operation: AclOperation
    why: str = ""


def worker_needs(settings: Settings) -> list[Need]:
    """`oddping process`: faust's worker, its group and faust's own topics included."""
    kafka, app_id = settings.kafka, settings.processor.app_id
    return [
        Need(TOPIC, kafka.records_topic, R, why="records to detect on"),
        Need(GROUP, app_id, R, why="the workers' consumer group (the app id)"),
        Need(TOPIC, kafka.alerts_topic, W, why="alerts"),
        Need(TOPIC, kafka.dead_letter_topic, W, why="dead letters"),
        *(Need(TOPIC, f"{app_id}-{suffix}", op, why="faust's own topic")
          for suffix in ("host-state-changelog", "__assignor-__leader") for op in (R, W)),
    ]


def sensor_needs(settings: Settings, topic: str, watch: bool) -> list[Need]:
    """`oddping produce`: write records; --watch also reads and writes its progress topic."""
    needs = [Need(TOPIC, topic, W, why="records")]
    if watch:
        needs += [Need(TOPIC, topic + ".progress", op, why="--watch progress") for op in (R, W)]
    return needs


def reader_needs(settings: Settings, group: str) -> list[Need]:
    """`oddping alerts`."""
    return [Need(TOPIC, settings.kafka.alerts_topic, R, why="alerts"),
            Need(GROUP, group, R, why="the reader's consumer group")]


def principal(kafka: KafkaSettings) -> str:
    """Who we are, as the broker will see it (for messages; never a secret)."""
    if kafka.security_protocol.startswith("SASL") and kafka.sasl_username:
        return f"User:{kafka.sasl_username}"
    if kafka.ssl_certificate_location:
        return f"the client certificate {kafka.ssl_certificate_location}"
    return "this client"


def _missing(who: str, need: Need, detail: str = "") -> KafkaUnavailable:
    return KafkaUnavailable(f"{who} may not {need.operation.name} {need.kind} {need.name!r} "
                            f"({need.why}){detail}: grant it with an ACL")


#: the group coordinator is still being set up (a fresh broker): worth asking again
_COORDINATOR_NOT_READY = frozenset({
    KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
})


def verify(kafka: KafkaSettings, needs: list[Need]) -> None:
    """Reachable, credentials accepted (preflight), then every right in `needs` (check)."""
    preflight(kafka)
    check(kafka, needs)


def check(kafka: KafkaSettings, needs: list[Need], timeout_s: float = 15.0) -> None:
    """Raise KafkaUnavailable naming the first right in `needs` the broker does not grant."""
    who = principal(kafka)
    errors = ErrorCollector()
    admin = AdminClient(client_config(kafka) | {"error_cb": errors})
    topics = sorted({n.name for n in needs if n.kind == TOPIC})
    groups = sorted({n.name for n in needs if n.kind == GROUP})
    allowed: dict[tuple[str, str], set[AclOperation] | None] = {}
    absent: dict[str, bool] = {}
    try:
        if topics:
            futures = admin.describe_topics(TopicCollection(topics), request_timeout=timeout_s,
                                            include_authorized_operations=True)
            for name, future in futures.items():
                allowed[TOPIC, name], absent[name] = _outcome(future, who)
        if groups:
            # a broker that has never had a consumer group answers "not the coordinator" until
            # its offsets topic is ready (seconds on a fresh broker): ask again until then
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    futures = admin.describe_consumer_groups(
                        groups, request_timeout=timeout_s, include_authorized_operations=True)
                    for name, future in futures.items():
                        allowed[GROUP, name], _ = _outcome(future, who)
                    break
                except KafkaException as exc:
                    if (exc.args[0].code() not in _COORDINATOR_NOT_READY
                            or time.monotonic() >= deadline):
                        raise
                    time.sleep(0.5)
    except KafkaUnavailable:
        raise
    except KafkaException as exc:
        raise KafkaUnavailable(f"cannot ask Kafka at {kafka.bootstrap_servers} what {who} "
                               f"may do: {errors.describe() if errors.last else exc}") from None
    creatable: dict[str, bool] = {}
    for need in needs:
        ops = allowed[need.kind, need.name]
        if ops is None:  # no DESCRIBE: the broker would not even say whether it exists
            raise _missing(who, need, ", nor even DESCRIBE it")
        if need.kind == TOPIC and absent[need.name]:
            # oddping creates the topics it uses when they are missing: may this principal?
            if need.name not in creatable:
                creatable[need.name] = _may_create(admin, need.name, timeout_s)
            if not creatable[need.name]:
                raise KafkaUnavailable(f"topic {need.name!r} does not exist ({need.why}) and "
                                       f"{who} may not CREATE it: create it first (`oddping "
                                       "topics create`) or grant CREATE with an ACL")
            continue  # what a topic about to be created allows is known once it exists
        if ops and need.operation not in ops and AclOperation.ALL not in ops:
            raise _missing(who, need)


def _outcome(future, who: str) -> tuple[set[AclOperation] | None, bool]:
    """(operations allowed, or None when not even DESCRIBE; whether the topic is absent).
    An empty set: the broker has no authorizer, so everything is allowed."""
    try:
        description = future.result()
    except KafkaException as exc:
        code = exc.args[0].code()
        if code in (KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED):
            return None, False
        if code == KafkaError.UNKNOWN_TOPIC_OR_PART:
            return set(), True
        raise
    return set(description.authorized_operations or ()), False


def _may_create(admin: AdminClient, topic: str, timeout_s: float) -> bool:
    """Ask the broker, without creating anything (CreateTopics, validate_only)."""
    future = admin.create_topics([NewTopic(topic, 1)], validate_only=True,
                                 request_timeout=timeout_s)[topic]
    try:
        future.result()
    except KafkaException as exc:
        return exc.args[0].code() not in (KafkaError.TOPIC_AUTHORIZATION_FAILED,
                                          KafkaError.CLUSTER_AUTHORIZATION_FAILED)
    return True


# -- errors met later -----------------------------------------------------------------------------

AUTHORIZATION_ERRORS = {  # aiokafka / librdkafka error names -> (operation, resource kind)
    "TopicAuthorizationFailedError": ("access", TOPIC),
    "GroupAuthorizationFailedError": ("READ", GROUP),
    "TransactionalIdAuthorizationFailed": ("WRITE", "transactional id"),
    "ClusterAuthorizationFailedError": ("access", "cluster"),
    "TOPIC_AUTHORIZATION_FAILED": ("access", TOPIC),
    "GROUP_AUTHORIZATION_FAILED": ("READ", GROUP),
    "TRANSACTIONAL_ID_AUTHORIZATION_FAILED": ("WRITE", "transactional id"),
    "CLUSTER_AUTHORIZATION_FAILED": ("access", "cluster"),
}


def explain(who: str, error_name: str, resource: str | None) -> str | None:
    """One line for an authorization error, or None when `error_name` is not one."""
    known = AUTHORIZATION_ERRORS.get(error_name)
    if known is None:
        return None
    operation, kind = known
    where = f" {resource!r}" if resource else ""
    return f"{who} may no longer {operation} {kind}{where} (authorization failed): grant it " \
           "with an ACL"


def client_certificate_problem(kafka: KafkaSettings) -> str | None:
    """Why the broker would refuse our client certificate, when we can tell locally (expired,
    not yet valid, unreadable), or None."""
    import ssl
    import time

    path = kafka.ssl_certificate_location
    if not path:
        return None
    try:
        cert = ssl._ssl._test_decode_cert(path)  # noqa: SLF001 - the stdlib's only PEM reader
    except (OSError, ssl.SSLError, ValueError):
        return f"the client certificate {path} cannot be read"
    now = time.time()
    if ssl.cert_time_to_seconds(cert["notAfter"]) < now:
        return f"the client certificate {path} expired on {cert['notAfter']}"
    if ssl.cert_time_to_seconds(cert["notBefore"]) > now:
        return f"the client certificate {path} is not valid before {cert['notBefore']}"
    return None
