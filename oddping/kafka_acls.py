"""The least-privilege ACLs of oddping's principals, as data.

One row per grant: which principal, which resource (type, pattern, name), which operations.
Names are templates filled from the kafka and processor settings, so the same table serves the
dev broker (dev/kafka/kafka.sh applies it for the default names), the tests (which apply it for
their own topic names) and the README's table (`python -m oddping.kafka_acls --print`).

    python -m oddping.kafka_acls --bootstrap-servers 127.0.0.1:9092 [--app-id oddping] [--print]

WRITE, READ and CREATE imply DESCRIBE on the same resource in Kafka's authorizer; DESCRIBE is
still listed where a client asks for metadata, to make the intent readable.  Idempotent
producers need no IDEMPOTENT_WRITE on the cluster since Kafka 2.8 (KIP-679): WRITE on the topic.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

# The principals: SCRAM user names and client certificate CNs (dev/kafka/kafka.sh makes both).
SENSOR, PROCESSOR, ALERT_READER, ADMIN = "sensor", "processor", "alerts", "admin"
WATCH_TRANSACTIONAL_PREFIX = "oddping-watch-"  # cli._watch_transactional_id
ALERT_READER_GROUP_PREFIX = "oddping-alerts-reader-"  # `oddping alerts`' throw-away groups
PROGRESS_SUFFIX = ".progress"  # producer.run.PROGRESS_SUFFIX

R, W, C, D = AclOperation.READ, AclOperation.WRITE, AclOperation.CREATE, AclOperation.DESCRIBE
TOPIC, GROUP, TXN = ResourceType.TOPIC, ResourceType.GROUP, ResourceType.TRANSACTIONAL_ID
LITERAL, PREFIXED = ResourcePatternType.LITERAL, ResourcePatternType.PREFIXED


@dataclass(frozen=True)
class Grant:
    principal: str
    resource: ResourceType
    pattern: ResourcePatternType
    name: str  # a str.format template over Names' fields
    operations: tuple[AclOperation, ...]
    why: str


GRANTS: tuple[Grant, ...] = (
    # the sensor: publish records idempotently; --watch: its progress topic and transactions
    Grant(SENSOR, TOPIC, LITERAL, "{records}", (W, D), "publish records (idempotent producer)"),
    Grant(SENSOR, TOPIC, LITERAL, "{records}" + PROGRESS_SUFFIX, (R, W, C, D),
          "--watch: per-file progress markers, read back at start (it creates the topic, "
          "compacted)"),
    Grant(SENSOR, TXN, PREFIXED, WATCH_TRANSACTIONAL_PREFIX, (W, D),
          "--watch: one transactional id per sensor and directory"),
    # the processor (faust worker): read records in its group, write alerts, dead letters and
    # its own topics: the host-state changelog and faust's assignor leader topic, both named
    # after the app id, which faust creates at its first start
    Grant(PROCESSOR, TOPIC, LITERAL, "{records}", (R, D), "consume records"),
    Grant(PROCESSOR, GROUP, LITERAL, "{app_id}", (R, D), "its consumer group (= app id)"),
    Grant(PROCESSOR, TOPIC, LITERAL, "{alerts}", (W, D), "publish alerts"),
    Grant(PROCESSOR, TOPIC, LITERAL, "{dead_letters}", (W, D), "publish dead letters"),
    Grant(PROCESSOR, TOPIC, PREFIXED, "{app_id}-", (R, W, C, D),
          "faust's own topics: <app_id>-host-state-changelog, <app_id>-__assignor-__leader; "
          "the campaign stage's <app_id>-campaign-behaviours (its repartition topic) and "
          "<app_id>-campaign-state-changelog"),
    # the alert reader (a SIEM connector, `oddping alerts`)
    Grant(ALERT_READER, TOPIC, LITERAL, "{alerts}", (R, D), "read alerts"),
    Grant(ALERT_READER, GROUP, PREFIXED, ALERT_READER_GROUP_PREFIX, (R,),
          "`oddping alerts` reads in a throw-away group"),
    # the admin: `oddping topics create`, and nothing else
    *(Grant(ADMIN, TOPIC, LITERAL, name, (C, D), "`oddping topics create`")
      for name in ("{records}", "{alerts}", "{dead_letters}", "{app_id}-campaign-behaviours")),
)


@dataclass(frozen=True)
class Names:
    records: str = "icmp.records"
    alerts: str = "icmp.alerts"
    dead_letters: str = "icmp.records.dlq"
    app_id: str = "oddping"


def bindings(names: Names, principals: dict[str, str] | None = None,
             grants: tuple[Grant, ...] = GRANTS) -> list[AclBinding]:
    """The ACL bindings of `grants` for these names; `principals` renames roles (tests)."""
    fields = vars(names)
    out = []
    for grant in grants:
        user = (principals or {}).get(grant.principal, grant.principal)
        for op in grant.operations:
            out.append(AclBinding(grant.resource, grant.name.format(**fields), grant.pattern,
                                  f"User:{user}", "*", op, AclPermissionType.ALLOW))
    return out


def apply(admin: AdminClient, acls: list[AclBinding], timeout_s: float = 30.0) -> None:
    for future in admin.create_acls(acls, request_timeout=timeout_s).values():
        future.result()


def revoke(admin: AdminClient, acls: list[AclBinding], timeout_s: float = 30.0) -> None:
    """Delete exactly these bindings."""
    filters = [AclBindingFilter(a.restype, a.name, a.resource_pattern_type, a.principal, a.host,
                                a.operation, a.permission_type) for a in acls]
    for future in admin.delete_acls(filters, request_timeout=timeout_s).values():
        future.result()


def table(names: Names) -> str:
    """The grants as a Markdown table (README)."""
    lines = ["| principal | resource | pattern | name | operations | why |",
             "|---|---|---|---|---|---|"]
    for g in GRANTS:
        lines.append(f"| User:{g.principal} | {g.resource.name} | {g.pattern.name} | "
                     f"`{g.name.format(**vars(names))}` | "
                     f"{', '.join(op.name for op in g.operations)} | {g.why} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m oddping.kafka_acls", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap-servers", default="127.0.0.1:9092",
                        help="a listener whose principal may create ACLs (a super user)")
    for field, default in vars(Names()).items():
        parser.add_argument(f"--{field.replace('_', '-')}", dest=field, default=default)
    parser.add_argument("--print", action="store_true", help="print the table, apply nothing")
    args = parser.parse_args(argv)
    names = Names(args.records, args.alerts, args.dead_letters, args.app_id)
    if args.print:
        print(table(names))
        return 0
    acls = bindings(names)
    apply(AdminClient({"bootstrap.servers": args.bootstrap_servers}), acls)
    print(f"applied {len(acls)} ACL bindings for {names}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
