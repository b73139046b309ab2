"""The `oddping` command line: decode, scan, produce, process, config, topics.

Every command explains itself with --help and an example.  Errors a user can fix (bad file, bad
config, unreachable broker) are one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import sys
from typing import IO

import click
import orjson

from . import __version__
from .config import ConfigError, Settings, load_config, masked
from .logs import configure_logging

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


def _write_records(records, out: IO[bytes], fmt: str) -> None:
    if fmt == "jsonl":
        dumps = orjson.dumps
        write = out.write
        for record in records:
            write(dumps(record) + b"\n")
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
    from producer import Decoder, iter_records
    from producer.capture.files import CaptureReader

    settings = _settings(config, sensor_id=sensor_id)
    fmt = fmt or ("table" if sys.stdout.isatty() else "jsonl")
    decoder = Decoder(settings.sensor_id, settings.capture.host_observation_interval_s)
    out = sys.stdout.buffer
    errors = []
    try:
        for path in captures:
            reader = CaptureReader(path, bpf=bpf or settings.capture.bpf)
            _write_records(iter_records(reader, decoder), out, fmt)
            if reader.error:
                errors.append(reader.error)
        out.flush()
    except BrokenPipeError:  # `| head` closed the pipe: not an error of ours
        sys.stderr.close()
        sys.exit(0)
    click.echo(f"oddping decode: {decoder.account.summary()}", err=True)
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
