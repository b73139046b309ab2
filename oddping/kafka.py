"""Kafka client settings shared by the producer, the admin client and the tests.

librdkafka property names are used throughout; `kafka.extra` in the config passes any other
librdkafka property through untouched (and wins over what is derived here).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from .config import KafkaSettings


class KafkaUnavailable(Exception):
    """Kafka could not be reached or refused us; the message is one line for the user."""


# librdkafka logs every failed connection attempt; those reach us through error_cb, where
# they are summarised, so its own log goes to a logger that only speaks when asked (DEBUG).
LIBRDKAFKA_LOG = logging.getLogger("oddping.librdkafka")
LIBRDKAFKA_LOG.setLevel(logging.CRITICAL)


def client_config(kafka: KafkaSettings) -> dict[str, Any]:
    conf: dict[str, Any] = {
        "bootstrap.servers": kafka.bootstrap_servers,
        "security.protocol": kafka.security_protocol,
        "logger": LIBRDKAFKA_LOG,
    }
    if kafka.sasl_mechanism:
        conf["sasl.mechanism"] = kafka.sasl_mechanism
    if kafka.sasl_username is not None:
        conf["sasl.username"] = kafka.sasl_username
    if kafka.sasl_password is not None:
        conf["sasl.password"] = kafka.sasl_password.get_secret_value()
    optional = {
        "ssl.ca.location": kafka.ssl_ca_location,
        "ssl.certificate.location": kafka.ssl_certificate_location,
        "ssl.key.location": kafka.ssl_key_location,
        "ssl.key.password": (
            kafka.ssl_key_password.get_secret_value() if kafka.ssl_key_password else None
        ),
    }
    conf.update({k: v for k, v in optional.items() if v is not None})
    conf.update(kafka.extra)
    return conf


class ErrorCollector:
    """librdkafka reports connection and authentication trouble through error_cb; keep the last
    one so a failed preflight can say why in one line."""

    def __init__(self) -> None:
        self.last: KafkaError | None = None

    def __call__(self, error: KafkaError) -> None:
        self.last = error

    def describe(self) -> str:
        return self.last.str() if self.last is not None else "no answer"


def preflight(kafka: KafkaSettings, timeout_s: float = 8.0) -> None:
    """Fail fast, in one line, when the brokers cannot be reached or refuse our credentials."""
    from .kafka_access import client_certificate_problem

    # TLS lets the broker answer an expired client certificate only with "certificate unknown"
    problem = client_certificate_problem(kafka)
    if problem is not None:
        raise KafkaUnavailable(f"cannot use Kafka at {kafka.bootstrap_servers}: {problem}")
    errors = ErrorCollector()
    admin = AdminClient(client_config(kafka) | {"error_cb": errors, "socket.timeout.ms": 5000})
    try:
        _metadata(admin, errors, timeout_s)
    except KafkaException as exc:
        admin.poll(0)  # deliver the queued error callbacks: they say why
        detail = errors.describe() if errors.last is not None else exc.args[0].str()
        raise KafkaUnavailable(
            f"cannot use Kafka at {kafka.bootstrap_servers}: {detail}"
        ) from None
    admin.poll(0)
    if errors.last is not None and errors.last.code() in (
        KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED,
        KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.CLUSTER_AUTHORIZATION_FAILED,
    ):
        raise KafkaUnavailable(
            f"Kafka at {kafka.bootstrap_servers} refused us: {errors.describe()}"
        )


# A refusal no retry will change: give up on the first one rather than at the deadline.
REFUSED = (KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED, KafkaError._SSL)


def _metadata(admin: AdminClient, errors: ErrorCollector, timeout_s: float) -> None:
    """list_topics in one-second slices, stopping early once the broker refused us."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            admin.list_topics(timeout=max(0.1, min(1.0, deadline - time.monotonic())))
            return
        except KafkaException:
            admin.poll(0)
            if time.monotonic() >= deadline or (
                    errors.last is not None and errors.last.code() in REFUSED):
                raise


def ensure_topics(kafka: KafkaSettings, topics: dict[str, dict[str, str]], timeout_s: float = 30.0) -> list[str]:
    """Create the topics that do not exist yet; returns the names created.  They keep data by
    size (kafka.retention_bytes), never by age: record timestamps are capture times, and a
    replayed old capture would otherwise be deleted by time retention as soon as it landed."""
    admin = AdminClient(client_config(kafka))
    try:
        existing = set(admin.list_topics(timeout=timeout_s).topics)
    except KafkaException as exc:
        raise KafkaUnavailable(
            f"cannot use Kafka at {kafka.bootstrap_servers}: {exc.args[0].str()}"
        ) from None
    retention = {"retention.ms": "-1", "retention.bytes": str(kafka.retention_bytes)}
    wanted = [
        NewTopic(name, num_partitions=kafka.partitions, replication_factor=kafka.replication_factor,
                 config=retention | config)
        for name, config in topics.items() if name not in existing
    ]
    if not wanted:
        return []
    created = []
    for name, future in admin.create_topics(wanted, operation_timeout=timeout_s).items():
        # exception(), not result() in a try: a raised exception's traceback holds this frame,
        # which holds `future` (and so the exception) and `admin`.  That cycle would keep the
        # admin client until the garbage collector runs in whatever thread allocates next,
        # possibly the client's own librdkafka thread, where destroying it aborts the process.
        error = future.exception()
        if error is None:
            created.append(name)
        else:
            code = error.args[0].code()
            if code in (KafkaError.TOPIC_AUTHORIZATION_FAILED,
                        KafkaError.CLUSTER_AUTHORIZATION_FAILED):
                from .kafka_access import principal

                raise KafkaUnavailable(f"{principal(kafka)} may not CREATE topic {name!r}: "
                                       "grant it with an ACL") from None
            if code != KafkaError.TOPIC_ALREADY_EXISTS:
                raise KafkaUnavailable(
                    f"cannot create topic {name}: {error.args[0].str()}") from None
    return created
