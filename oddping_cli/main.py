"""The `oddping` command line: decode, scan, produce, process, config, topics.

Every command explains itself with --help and an example.  Errors a user can fix (bad file, bad
config, unreachable broker) are one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import os
import re
import sys
from typing import IO

import click
import orjson

from oddping import __version__
from oddping.config import ConfigError, Settings, load_config, masked
from oddping.logs import configure_logging

EXIT_CORRUPT_INPUT = 2


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"oddping: {message}", err=True)
    sys.exit(code)


def _settings(config: str | None, **overrides: object) -> Settings:
    try:
        settings = load_config(config, overrides)
    except ConfigError as exc:
        _fail(str(exc))
    configure_logging(settings.log_level, settings.log_format)
    return settings


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="oddping")
def main() -> None:
    """oddping hunts odd ICMP echo traffic: tiny or unknown payloads, TTLs no stack uses, one
    echo identifier spread over several destinations, tunnels, sweeps.

    \b
    Quick look at a capture:      oddping scan capture.pcap
    Records of a capture:         oddping decode capture.pcap | head
    Streaming (Kafka):            oddping produce --interface eth0 ; oddping process
    """


# -- decode ------------------------------------------------------------------------------------

_TABLE_COLUMNS = (
    ("time", 26), ("src", 16), ("dst", 16), ("ttl", 4), ("type", 5), ("id", 6), ("seq", 6),
    ("len", 5), ("class", 17), ("under", 14),
)


def _table_row(record: dict) -> str:
    from datetime import UTC, datetime

    ts = record["ts_ns"]
    when = datetime.fromtimestamp(ts // 1_000_000_000, UTC).strftime("%Y-%m-%d %H:%M:%S")
    when += f".{ts % 1_000_000_000:09d}"[:7]
    if record["kind"] == "host_observation":
        values = (when, record["src_ip"], record["dst_ip"], record["ttl"], "SYN", "", "", "",
                  "(host observation)", "")
    else:
        under = "/".join(record["encapsulation"] + [f"vlan{v}" for v in record["vlan_ids"]])
        values = (
            when, record["src_ip"], record["dst_ip"], record["ttl"],
            f"{record['icmp_type']}/{record['icmp_code']}",
            "" if record["icmp_id"] is None else f"0x{record['icmp_id']:04x}",
            "" if record["icmp_seq"] is None else record["icmp_seq"],
            record["payload_len"], record["payload_class"], under,
        )
    return " ".join(str(v)[:w].ljust(w) for v, (_, w) in zip(values, _TABLE_COLUMNS)).rstrip()


def _capture_records(captures, settings: Settings, bpf: str | None, account, errors: list[str],
                     sensor_id: str | None = None):
    """Records of each capture in turn; what became of every frame is merged into `account`,
    a damaged capture's one-line reason appended to `errors`."""
    from producer import Decoder, iter_records
    from producer.capture.files import CaptureReader

    for path in captures:
        # one decoder per capture: a file decodes to the same records however it is fed
        decoder = Decoder(sensor_id or settings.sensor_id,
                          settings.capture.host_observation_interval_s)
        reader = CaptureReader(path, bpf=bpf or settings.capture.bpf)
        yield from iter_records(reader, decoder)
        account.merge(decoder.account)
        if reader.error:
            errors.append(reader.error)


_SENSOR_CAPTURE = re.compile(r"([A-Za-z0-9][A-Za-z0-9._:-]*)=(.+)")


def _by_sensor(captures: tuple[str, ...], default_sensor: str) -> dict[str, list[str]]:
    """SENSOR=FILE arguments by sensor (a file that exists under the whole name is a file);
    plain FILE arguments belong to --sensor-id.  One sensor's files are read in turn."""
    groups: dict[str, list[str]] = {}
    for arg in captures:
        named = _SENSOR_CAPTURE.fullmatch(arg)
        if named is None or os.path.exists(arg):
            groups.setdefault(default_sensor, []).append(arg)
        else:
            groups.setdefault(named.group(1), []).append(named.group(2))
    return groups


def _write_records(records, out: IO[bytes], fmt: str) -> None:
    if fmt == "jsonl":
        dumps = orjson.dumps
        write = out.write
        newline = orjson.OPT_APPEND_NEWLINE
        for record in records:
            write(dumps(record, option=newline))
    else:
        header = " ".join(name.ljust(w) for name, w in _TABLE_COLUMNS).rstrip()
        out.write(header.encode() + b"\n")
        for record in records:
            out.write(_table_row(record).encode() + b"\n")


@main.command()
@click.argument("captures", nargs=-1, required=True, metavar="FILE...")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "table"]), default=None,
              help="JSON lines (default when stdout is not a terminal) or a readable table.")
@click.option("--sensor-id", default=None, help="sensor_id written into every record.")
@click.option("--bpf", default=None, metavar="EXPR", help="only frames matching this BPF filter.")
@click.option("--config", type=click.Path(dir_okay=False), default=None, envvar="ODDPING_CONFIG",
              help="config file (TOML or YAML).")
def decode(captures: tuple[str, ...], fmt: str | None, sensor_id: str | None, bpf: str | None,
           config: str | None) -> None:
    """Decode captures (pcap, pcapng, gzip, or - for stdin) into ICMP records.

    Prints one record per ICMP packet and one host observation per TCP SYN (rate-limited per
    host), then, on stderr, what became of every packet read.

    \b
    Examples:
      oddping decode samples/footprints.pcap --format table
      tcpdump -i eth0 -w - 'icmp or icmp6' | oddping decode - > records.jsonl
    """
    from producer import Accounting

    settings = _settings(config, sensor_id=sensor_id)
    fmt = fmt or ("table" if sys.stdout.isatty() else "jsonl")
    out = sys.stdout.buffer
    errors: list[str] = []
    account = Accounting()
    try:
        _write_records(_capture_records(captures, settings, bpf, account, errors), out, fmt)
        out.flush()
    except BrokenPipeError:  # `| head` closed the pipe: not an error of ours
        sys.stderr.close()
        sys.exit(0)
    click.echo(f"oddping decode: {account.summary()}", err=True)
    for error in errors:
        click.echo(f"oddping: {error}", err=True)
    if errors:
        sys.exit(EXIT_CORRUPT_INPUT)


# -- config ------------------------------------------------------------------------------------

@main.group()
def config() -> None:
    """Inspect the effective configuration."""


@config.command("show")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              envvar="ODDPING_CONFIG", help="config file (TOML or YAML).")
def config_show(config_path: str | None) -> None:
    """Print the effective configuration (defaults < file < ODDPING_* env < flags), secrets
    masked, as JSON.

    \b
    Example:
      ODDPING_KAFKA__BOOTSTRAP_SERVERS=broker:9092 oddping config show --config oddping.toml
    """
    settings = _settings(config_path)
    click.echo(orjson.dumps(masked(settings), option=orjson.OPT_INDENT_2).decode())


# -- produce ------------------------------------------------------------------------------------

def _kafka_flags(func):
    func = click.option("--topic", default=None, help="records topic [icmp.records].")(func)
    func = click.option("--bootstrap-servers", default=None, metavar="HOST:PORT[,...]",
                        envvar="ODDPING_KAFKA__BOOTSTRAP_SERVERS",
                        help="Kafka brokers [127.0.0.1:9092].")(func)
    func = click.option("--config", type=click.Path(dir_okay=False), default=None,
                        envvar="ODDPING_CONFIG", help="config file (TOML or YAML).")(func)
    return func


@main.command()
@click.option("--pcap", "pcaps", multiple=True, metavar="FILE",
              help="publish these capture files (repeatable; - for stdin).")
@click.option("--realtime", is_flag=True, help="with --pcap: pace records by capture time.")
@click.option("--interface", "-i", default=None, metavar="IF", help="capture live on IF.")
@click.option("--watch", "watch_dir", default=None, metavar="DIR",
              help="publish each finished file of a rotating capture directory, exactly once.")
@click.option("--watch-glob", default="*", show_default=True,
              help="with --watch: only file names matching this pattern.")
@click.option("--bpf", default=None, metavar="EXPR", help="extra BPF filter (ANDed with ours).")
@click.option("--sensor-id", default=None, help="sensor id for records [host name].")
@click.option("--metrics-port", default=None, metavar="PORT|auto",
              help="port of /metrics and /healthz [9102]; auto: any free port (logged); "
              "0 disables.")
@_kafka_flags
def produce(pcaps: tuple[str, ...], realtime: bool, interface: str | None,
            watch_dir: str | None, watch_glob: str, bpf: str | None, sensor_id: str | None,
            metrics_port: str | None, config: str | None, bootstrap_servers: str | None,
            topic: str | None) -> None:
    """Decode ICMP from captures and publish the records to Kafka.

    One source per run: --pcap FILE..., --interface IF or --watch DIR.  Records are keyed by
    the host that started the exchange, stamped with capture time, and carry schema_version
    and sensor_id headers.  SIGTERM/SIGINT flush what is queued and print a summary; the exit
    status is non-zero if any record was not delivered.

    \b
    Examples:
      oddping produce --pcap samples/footprints.pcap --bootstrap-servers 127.0.0.1:9092
      sudo oddping produce --interface eth0 --sensor-id dc1-tap3
      tcpdump -i eth0 -G 300 -w /captures/icmp-%s.pcap & oddping produce --watch /captures
    """
    from confluent_kafka import KafkaException

    from oddping.kafka import KafkaUnavailable
    from producer.capture.files import CaptureError
    from producer.capture.privileges import PrivilegeError
    from producer.publish import DeliveryFailed
    from producer.run import Producer

    sources = [bool(pcaps), bool(interface), bool(watch_dir)]
    if sum(sources) != 1:
        _fail("choose exactly one source: --pcap FILE..., --interface IF or --watch DIR")
    settings = _settings(config, sensor_id=sensor_id, **{
        "kafka.bootstrap_servers": bootstrap_servers, "kafka.records_topic": topic,
        "capture.bpf": bpf, "metrics.port": metrics_port,
    })
    runner = Producer(settings)
    try:
        transactional_id = _watch_transactional_id(settings.sensor_id, watch_dir) if watch_dir else None
        from oddping.kafka_access import sensor_needs, verify

        verify(settings.kafka, sensor_needs(settings, runner.topic, bool(watch_dir)))
        runner.start(transactional_id=transactional_id)
        if pcaps:
            runner.run_files(list(pcaps), realtime=realtime)
        elif interface:
            runner.run_live(interface)
        else:
            runner.run_watch(watch_dir, watch_glob)  # type: ignore[arg-type]
    except (KafkaUnavailable, CaptureError, FileNotFoundError, DeliveryFailed, ConfigError,
            PrivilegeError) as exc:
        _fail(str(exc))
    except KafkaException as exc:  # anything else librdkafka refuses: still one line
        _fail(f"kafka: {exc.args[0].str() if exc.args else exc}")
    outcome = runner.finish()
    click.echo(
        f"oddping produce: delivered {outcome.delivered} records to {runner.topic}, "
        f"failed {outcome.failed}"
        + (f", shed {outcome.shed} (producer queue full)" if outcome.shed else "")
        + f"; {outcome.account.summary()}", err=True)
    for error in outcome.capture_errors:
        click.echo(f"oddping: {error}", err=True)
    if outcome.failed:
        _fail(f"{outcome.failed} records were not delivered: {outcome.first_failure}")
    if outcome.capture_errors:
        sys.exit(EXIT_CORRUPT_INPUT)


def _watch_transactional_id(sensor_id: str, watch_dir: str) -> str:
    """Stable per sensor and directory, so a restarted producer fences its predecessor."""
    import hashlib
    from pathlib import Path

    digest = hashlib.sha256(str(Path(watch_dir).resolve()).encode()).hexdigest()[:12]
    return f"oddping-watch-{sensor_id}-{digest}"


# -- topics -------------------------------------------------------------------------------------

@main.group()
def topics() -> None:
    """Manage oddping's Kafka topics."""


@topics.command("create")
@_kafka_flags
def topics_create(config: str | None, bootstrap_servers: str | None, topic: str | None) -> None:
    """Create the records, alerts and dead-letter topics, and the campaign stage's
    <app_id>-campaign-behaviours, where missing, with the configured partitions and
    replication factor.

    \b
    Example:
      oddping topics create --bootstrap-servers kafka:9092 --config oddping.toml
    """
    from oddping.kafka import KafkaUnavailable, ensure_topics

    settings = _settings(config, **{"kafka.bootstrap_servers": bootstrap_servers,
                                    "kafka.records_topic": topic})
    kafka = settings.kafka
    try:
        wanted = {kafka.records_topic: {}, kafka.alerts_topic: {}, kafka.dead_letter_topic: {}}
        if settings.campaigns.enabled and settings.campaigns.stream:  # the 2nd stage's topic
            from processors.stream.campaigns import behaviours_topic_name
            wanted[behaviours_topic_name(settings.processor.app_id)] = {}
        created = ensure_topics(kafka, wanted)
    except KafkaUnavailable as exc:
        _fail(str(exc))
    click.echo(f"created: {', '.join(created) or 'nothing (all exist)'}")


# -- process ------------------------------------------------------------------------------------

@main.command()
@click.option("--bootstrap-servers", default=None, metavar="HOST:PORT[,...]",
              envvar="ODDPING_KAFKA__BOOTSTRAP_SERVERS", help="Kafka brokers [127.0.0.1:9092].")
@click.option("--records-topic", default=None, help="topic to consume [icmp.records].")
@click.option("--alerts-topic", default=None, help="topic for alerts [icmp.alerts].")
@click.option("--app-id", default=None, help="consumer group and state name [oddping].")
@click.option("--alert-format", type=click.Choice(["native", "ecs", "ocsf"]), default=None,
              help="alert document format [native].")
@click.option("--metrics-port", default=None, metavar="PORT|auto",
              help="port of /metrics and /healthz [the first free of 9103-9118, so several "
              "workers share a host]; auto: any free port (logged); 0 disables.")
@click.option("--config", type=click.Path(dir_okay=False), default=None, envvar="ODDPING_CONFIG",
              help="config file (TOML or YAML).")
def process(bootstrap_servers: str | None, records_topic: str | None, alerts_topic: str | None,
            app_id: str | None, alert_format: str | None, metrics_port: str | None,
            config: str | None) -> None:
    """Run a stream worker (faust): consume records, keep per-host state in tables backed by
    changelog topics, and publish alerts.  Start several with the same --app-id to share the
    partitions of the records topic.

    \b
    Examples:
      oddping process --bootstrap-servers 127.0.0.1:9092
      oddping process --config oddping.toml --alert-format ecs
    """
    from oddping.kafka import KafkaUnavailable, ensure_topics
    from processors.rules import load_rule_settings

    settings = _settings(config, **{
        "kafka.bootstrap_servers": bootstrap_servers, "kafka.records_topic": records_topic,
        "kafka.alerts_topic": alerts_topic, "processor.app_id": app_id,
        "processor.alert_format": alert_format, "metrics.port": metrics_port,
    })
    try:
        load_rule_settings(settings.rules)
    except ConfigError as exc:
        _fail(str(exc))
    kafka = settings.kafka
    try:
        from oddping.kafka_access import verify, worker_needs

        verify(kafka, worker_needs(settings))  # every right it needs, or one line naming it
        ensure_topics(kafka, {kafka.records_topic: {}, kafka.alerts_topic: {},
                              kafka.dead_letter_topic: {}})
    except KafkaUnavailable as exc:
        _fail(str(exc))
    from processors.stream.app import run_worker

    try:
        status = run_worker(settings)
    except ConfigError as exc:  # the metrics port (oddping/metrics_port.py)
        _fail(str(exc))
    sys.exit(status)


# -- scan ---------------------------------------------------------------------------------------

SEVERITY_ORDER = ("low", "medium", "high", "critical")
EXIT_FINDINGS = 3


@main.command()
@click.argument("captures", nargs=-1, required=True, metavar="[SENSOR=]FILE...")
@click.option("--format", "fmt", type=click.Choice(["table", "jsonl", "ecs", "ocsf"]),
              default=None, help="table (default on a terminal), native JSON lines, ECS or OCSF.")
@click.option("--fail-on", type=click.Choice(SEVERITY_ORDER), default=None,
              help=f"exit {EXIT_FINDINGS} when an alert of this severity or higher is found.")
@click.option("--sensor-id", default=None, help="sensor_id for the records [host name].")
@click.option("--bpf", default=None, metavar="EXPR", help="only frames matching this BPF filter.")
@click.option("--all-versions", is_flag=True,
              help="every version of every alert in the order the stream would emit them "
                   "(open ones, updates, the closed one), e.g. to test SIEM upserts.")
@click.option("--config", type=click.Path(dir_okay=False), default=None, envvar="ODDPING_CONFIG",
              help="config file (TOML or YAML): rules, thresholds, suppressions.")
def scan(captures: tuple[str, ...], fmt: str | None, fail_on: str | None,
         sensor_id: str | None, bpf: str | None, all_versions: bool,
         config: str | None) -> None:
    """Hunt in captures without a broker: decode and detect in one process, print the alerts.

    Runs the same engine as `oddping process`, so a capture gives the same alerts either way.
    Prints each alert's final (closed) version; --all-versions prints every version.
    Exit status 0 with or without findings; 2 if a capture is damaged (after reporting what
    was readable); 3 with --fail-on when a finding reaches that severity.

    \b
    Examples:
      oddping scan samples/footprints.pcap
      oddping scan big.pcapng --format ecs > alerts.ndjson
      oddping scan nightly/*.pcap --fail-on high --config tuned.toml
      oddping scan edge=edge.pcap core=core.pcapng
      oddping scan tunnel.pcap --all-versions --format ecs > versions.ndjson

    SENSOR=FILE names the sensor that captured FILE: several sensors' captures of the same
    network are merged in capture-time order, as the stream would see them, and a packet
    captured by several sensors counts once.
    """
    from oddping.runtime import tune_gc
    from producer import Accounting
    from processors.engine import Engine
    from processors.campaign.run import campaigns
    from processors.scan import by_capture_time, final_versions

    settings = _settings(config, sensor_id=sensor_id)
    sensors = _by_sensor(captures, settings.sensor_id)
    if len(sensors) > 1:  # known from the start: copies are remembered across the late bound
        settings = settings.model_copy(update={"processor": settings.processor.model_copy(
            update={"several_sensors": True})})
    try:
        engine = Engine(settings, open_versions=all_versions)
    except ConfigError as exc:
        _fail(str(exc))
    tune_gc()
    fmt = fmt or ("table" if sys.stdout.isatty() else "jsonl")
    latest = {}  # alert_id -> its latest version: every version emitted would grow unbounded
    emitted: list = []  # every version in order, kept only for --all-versions
    account = Accounting()
    errors: list[str] = []
    process_record = engine.process
    streams = [_capture_records(paths, settings, bpf, account, errors, sensor)
               for sensor, paths in sensors.items()]
    for record in by_capture_time(*streams):
        for alert in process_record(record):
            latest[alert.alert_id] = alert
            if all_versions:
                emitted.append(alert)
    for alert in engine.flush():
        latest[alert.alert_id] = alert
        if all_versions:
            emitted.append(alert)
    alerts = final_versions(latest.values())
    # the second stage (processors/campaign): sets behaviour_id/campaign_id on host alerts
    found = campaigns(alerts, settings.campaigns) if settings.campaigns.enabled else []
    out = sys.stdout
    shown = emitted if all_versions else alerts
    if fmt == "table":
        _print_alert_table(shown)
        _print_campaign_table(found)
    else:
        doc_format = "native" if fmt == "jsonl" else fmt
        for alert in shown:
            out.buffer.write(alert.to_json(doc_format) + b"\n")
        for alert in found:
            out.buffer.write(alert.to_json(doc_format) + b"\n")
    out.flush()
    stats = engine.stats
    copies = sum(stats.copies.values())
    counted_once = f", {copies} other sensors' copies counted once" if copies else ""
    flood = (f"; folded into floods: {stats.flood_absorbed} requests from new sources, "
             f"{sum(stats.findings_folded.values())} findings" if stats.flood_absorbed else "")
    budget = (f"; over the alert budget: {stats.alerts_over_budget} alert versions"
              if stats.alerts_over_budget else "")
    found_ids = {c.alert_id for c in found}
    in_campaigns = sum(1 for a in alerts if a.doc.get("campaign_id") in found_ids)
    click.echo(f"oddping scan: {len(alerts)} alerts from {stats.records_seen} records "
               f"({len(found)} campaigns covering {in_campaigns} of them) "
               f"(suppressed {sum(stats.suppressed.values())}{counted_once}{flood}{budget}); "
               f"{account.summary()}", err=True)
    for error in errors:
        click.echo(f"oddping: {error}", err=True)
    if errors:
        sys.exit(EXIT_CORRUPT_INPUT)
    if fail_on and any(SEVERITY_ORDER.index(a.severity) >= SEVERITY_ORDER.index(fail_on)
                       for a in alerts):
        sys.exit(EXIT_FINDINGS)


def _print_campaign_table(found) -> None:
    for alert in found:
        doc = alert.doc
        click.echo(f"{doc['severity'].upper():8} {'campaign':27} {doc['host_count']:>4} hosts"
                   f"       {doc['first_seen'][:19]}  {doc['alert_id']}")
        click.echo(f"         {doc['summary']}")


def _print_alert_table(alerts) -> None:
    if not alerts:
        click.echo("no findings")
        return
    for alert in alerts:
        doc = alert.doc
        version = f"  v{doc['version']} {doc['status']}" if doc.get("status") != "closed" else ""
        click.echo(f"{doc['severity'].upper():8} {doc['rule_id']:27} {doc['src_ip']:16} "
                   f"{doc['first_seen'][:19]}  x{doc['packet_count']}{version}")
        click.echo(f"         {doc['summary']}")


# -- suppress -----------------------------------------------------------------------------------

@main.command()
@click.option("--campaign", "campaign_id", required=True, metavar="ID",
              help="the campaign alert's alert_id.")
@click.option("--reason", required=True, help="why it is silenced (counted under it).")
@click.option("--expires", default=None, metavar="DATE",
              help="ISO 8601 date or time after which the entries no longer apply.")
@click.option("--from", "source", type=click.File("rb"), default="-", show_default=True,
              help="JSON lines holding the campaign: `oddping scan --format jsonl` output or "
                   "`oddping alerts --format jsonl` (the alerts topic).")
def suppress(campaign_id: str, reason: str, expires: str | None, source) -> None:
    """Print the suppression entries that silence one campaign, ready to paste into the config.

    One [[suppressions]] entry per destination prefix, each with the payload class and the
    initial TTL of the campaign's fingerprint: the same software to the same networks is
    silenced, any other behaviour still alerts.

    \b
    Examples:
      oddping scan fleet.pcap --format jsonl > alerts.ndjson
      oddping suppress --campaign 033cf7ca-... --reason "Office 365 Footprints" \\
          --expires 2027-06-30 --from alerts.ndjson >> oddping.toml
    """
    from processors.campaign.suppression import CampaignNotFound, as_toml, find_campaign
    from processors.suppress import expiry_ns

    if expires is not None:
        try:
            expiry_ns(expires)
        except ConfigError as exc:
            _fail(str(exc))
    try:
        campaign = find_campaign(source, campaign_id)
    except CampaignNotFound as exc:
        _fail(str(exc))
    click.echo(as_toml(campaign, reason, expires))


# -- alerts -------------------------------------------------------------------------------------

@main.command()
@click.option("--bootstrap-servers", default=None, metavar="HOST:PORT[,...]",
              envvar="ODDPING_KAFKA__BOOTSTRAP_SERVERS", help="Kafka brokers [127.0.0.1:9092].")
@click.option("--topic", default=None, help="alerts topic [icmp.alerts].")
@click.option("--format", "fmt", type=click.Choice(["table", "jsonl"]), default=None,
              help="table (default on a terminal) or the alert documents as JSON lines.")
@click.option("--wait", "wait_s", type=float, default=30.0, show_default=True,
              help="seconds to wait for the first alert.")
@click.option("--idle", "idle_s", type=float, default=5.0, show_default=True,
              help="stop after this many quiet seconds once alerts have arrived.")
@click.option("--follow", is_flag=True,
              help="keep reading until interrupted: a live table on a terminal (one row per "
                   "alert, updated in place), JSON lines when piped.")
@click.option("--config", type=click.Path(dir_okay=False), default=None, envvar="ODDPING_CONFIG",
              help="config file (TOML or YAML).")
def alerts(bootstrap_servers: str | None, topic: str | None, fmt: str | None, wait_s: float,
           idle_s: float, follow: bool, config: str | None) -> None:
    """Read alerts from the alerts topic, from the beginning.  The topic holds every version of
    every alert; a table shows each alert_id once, in its newest version (with --follow on a
    terminal, a live table whose rows update in place); JSON lines show every version.

    \b
    Examples:
      oddping alerts --topic icmp.alerts
      oddping alerts --follow                       # live table on a terminal
      oddping alerts --follow --format jsonl | jq 'select(.status == "closed") | .summary'
    """
    import time
    import uuid
    from contextlib import nullcontext

    from confluent_kafka import Consumer
    from rich.console import Console
    from rich.live import Live

    from oddping.alertview import Latest, live_table
    from oddping.kafka import KafkaUnavailable, client_config

    settings = _settings(config, **{"kafka.bootstrap_servers": bootstrap_servers,
                                    "kafka.alerts_topic": topic})
    group = f"oddping-alerts-reader-{uuid.uuid4().hex[:8]}"
    try:
        from oddping.kafka_access import reader_needs, verify

        verify(settings.kafka, reader_needs(settings, group))
    except KafkaUnavailable as exc:
        _fail(str(exc))
    fmt = fmt or ("table" if sys.stdout.isatty() else "jsonl")
    consumer = Consumer(client_config(settings.kafka) | {
        "group.id": group,
        "auto.offset.reset": "earliest", "enable.auto.commit": False,
    })
    consumer.subscribe([settings.kafka.alerts_topic])
    latest = Latest()
    console = Console()
    live = (Live(live_table(latest), console=console, auto_refresh=False, transient=False)
            if fmt == "table" and follow else nullcontext())
    started = last = time.monotonic()
    try:
        with live:
            while True:
                msg = consumer.poll(0.5)
                now = time.monotonic()
                if msg is None or msg.error():
                    quiet_for = now - last
                    if not follow and (latest.rows and quiet_for >= idle_s
                                       or not latest.rows and now - started >= wait_s):
                        break
                    continue
                last = now
                if fmt == "jsonl":
                    sys.stdout.buffer.write(msg.value() + b"\n")
                    sys.stdout.flush()
                try:
                    changed = latest.add(orjson.loads(msg.value()))
                except (orjson.JSONDecodeError, KeyError, TypeError, IndexError):
                    continue  # not an alert document: the JSON lines show it as it is
                if changed and isinstance(live, Live):
                    live.update(live_table(latest, limit=max(console.height - 6, 5)),
                                refresh=True)
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
    if fmt == "table" and not follow:
        if not latest.rows:
            click.echo("no findings")
        for row in latest.ordered():
            status = "" if row.status == "closed" else f"  v{row.version} {row.status}"
            click.echo(f"{row.severity.upper():8} {row.rule_id:27} {row.src_ip:16} "
                       f"{row.first_seen[:19]}  x{row.packet_count}{status}")
            click.echo(f"         {row.summary}")
