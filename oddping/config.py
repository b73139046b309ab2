"""Effective configuration: defaults < config file (TOML or YAML) < ODDPING_* environment < flags.

Every section is a pydantic model, so a typo in a config file or a value of the wrong type is a
one-line error naming the field, not a surprise at 3 a.m.  Nested environment variables use a
double underscore: ``ODDPING_KAFKA__BOOTSTRAP_SERVERS=broker:9092``.  The config file path comes
from ``--config`` or ``ODDPING_CONFIG``.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from pathlib import Path
from contextvars import ContextVar
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
    YamlConfigSettingsSource,
)

CONFIG_ENV = "ODDPING_CONFIG"


class ConfigError(Exception):
    """A configuration file or value that cannot be used; the message is one line for the user."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KafkaSettings(_Section):
    bootstrap_servers: str = Field("127.0.0.1:9092", description="HOST:PORT[,HOST:PORT...]")
    records_topic: str = "icmp.records"
    alerts_topic: str = "icmp.alerts"
    dead_letter_topic: str = "icmp.records.dlq"
    partitions: int = Field(4, ge=1, description="partitions for topics oddping creates")
    replication_factor: int = Field(1, ge=1)
    # Records carry their capture time as Kafka timestamp, and Kafka's time retention compares
    # against record timestamps: a replayed capture from last year would be deleted at once.
    # So topics oddping creates keep data by size, not age.
    retention_bytes: int = Field(
        1 << 30, ge=-1, description="retention.bytes per partition of topics oddping creates"
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_location: str | None = None
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = None
    ssl_key_password: SecretStr | None = None
    # Any librdkafka property, passed through as is (e.g. {"linger.ms": 20}).
    extra: dict[str, str | int | float | bool] = Field(default_factory=dict)


class CaptureSettings(_Section):
    interface: str | None = None
    bpf: str | None = Field(None, description="extra BPF expression ANDed with oddping's own")
    snaplen: int = Field(65535, ge=68)
    promiscuous: bool = True
    buffer_mb: int = Field(32, ge=1)
    user: str | None = Field(
        "nobody", description="live capture started as root: become this user once the capture "
        "handle is open (like tcpdump -Z); empty keeps root")
    watch_dir: str | None = None
    watch_settle_seconds: float = Field(
        5.0, ge=0, description="a file unchanged this long, or followed by a newer one, is finished"
    )
    host_observation_interval_s: float = Field(
        60.0, ge=0, description="at most one TCP SYN host observation per host per interval"
    )


class MetricsSettings(_Section):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] | Literal["auto"] | None = Field(
        None, description="unset: the command's default (produce 9102; process the first free "
        "of 9103-9118); a number: exactly that port; auto: any free port, logged; 0: off "
        "(oddping/metrics_port.py)")


class ProcessorSettings(_Section):
    app_id: str = "oddping"
    store: Literal["memory", "rocksdb"] = "memory"
    data_dir: str = "/tmp/oddping"
    alert_format: Literal["native", "ecs", "ocsf"] = "native"
    batch_size: int = Field(
        1000, ge=1, description="most records the worker's agent takes as one event (one "
        "partition's records from one fetch, split into chunks of at most this many)")
    checkpoint_interval_s: float = Field(
        5.0, gt=0, description="how often changed host state goes to the changelog and the "
        "records consumed since are committed: longer is faster, and replays more after a crash")
    checkpoint_max_records: int = Field(
        250_000, ge=1, description="records consumed before a checkpoint is taken regardless "
        "(250,000: at 50,000 records/s the interval comes first; each checkpoint re-sends "
        "every changed host, so fewer of them are faster)")
    fetch_partition_bytes: int = Field(
        4 * 1024 * 1024, ge=64 * 1024, description="most (compressed) bytes one fetch brings "
        "per records partition: what the consumer holds ready while the agent works.  Above "
        "faust's 1 MiB because the agent outran a 1 MiB fetch (~6,000 records) and waited "
        "for the next one ~15 % of the time; the buffer stays compressed (peak RSS on the "
        "stream bench 323 MB at 1 MiB, 390 MB at 4 MiB with poll_records 50,000)")
    poll_records: int = Field(
        50_000, ge=1, description="most records handed from the consumer's fetch buffer to the "
        "agent's queue at once: the rest stay compressed in the buffer, so the fetches of many "
        "partitions do not all become Python objects in one go (stream bench, 4 partitions: peak "
        "RSS 445 MB unbounded, 390 MB at 50,000); at 5,000 or 20,000 the consumer waited on its "
        "own buffer (bench/README.md)")
    stall_timeout_s: float = Field(
        120.0, gt=0, description="/healthz fails when records wait and none is taken this long")
    max_tracked_hosts: int = Field(
        20_000, ge=1, description="most hosts with state per worker (and in scan); beyond, new "
        "hosts evict probationary ones first (processors/state/admission.py).  20,000 keeps the "
        "chart's 1 GiB processor limit with a quarter spare: ~400 MB for the worker itself "
        "(stream bench peak) + 20,000 x 17.2 kB (resident memory per host of the busy-network "
        "mix loaded, alert windows and the copy memory of processors/state/dedup.py included; "
        "an ordinary pinger ~10 kB, a one-packet host ~2 kB, a flood's spoofed source 0) = "
        "~745 MB (bench/README.md, memory section)")
    alert_budget_per_minute: int = Field(
        1200, ge=0, description="most new alerts per minute of capture time that reach the "
        "alerts topic, shared out over the records partitions; decided when an alert's window "
        "opens, so an admitted alert gets all its versions and a refused one none "
        "(processors/budget.py).  Refusals are counted (oddping_alerts_over_budget) and "
        "reported in the next alert admitted (details.alerts_over_budget).  0: unbounded")
    host_idle_expiry_s: float = Field(900.0, gt=0)
    sensor_late_bound_s: float = Field(
        300.0, ge=0, description="how far behind a host's newest record (from any sensor) "
        "another sensor's records may arrive and still give the alerts they would have on "
        "time: a host's alert windows close only this long after their end in the host's own "
        "time.  Older records are still processed, and counted per sensor (late_records)")
    copy_window_s: float = Field(
        2.0, gt=0, description="capture-time distance within which another sensor's record "
        "of the same packet (addresses, IP id, ICMP id and sequence, payload) is a copy of it, "
        "counted once")
    duplicate_window_s: float = Field(
        0.001, ge=0, description="capture-time distance within which one sensor's second "
        "record of the same packet (addresses, IP id, TTL, ICMP id and sequence, payload) is "
        "the same capture twice (a SPAN of both directions, two mirrored ports into one "
        "sensor), counted once (same_sensor_duplicates); 0 turns it off")
    several_sensors: bool = Field(
        False, description="several sensors see the same hosts: remember each host's packets "
        "across sensor_late_bound_s from the first record, so a sensor that catches up later "
        "has its copies recognised (more memory per host).  Otherwise that starts when the "
        "worker sees a second sensor, and until then only the stream's last 256 ICMP records "
        "are remembered (none per host), handed over to their hosts then")
    clock_offset_warn_s: float = Field(
        0.5, gt=0, description="log a warning when a sensor's clock is this far from the "
        "others' (estimated from the copies they share); past copy_window_s, copies are no "
        "longer recognised")

    # The alert lifecycle (processors/lifecycle.py): versions of one alert_id, open, then closed.
    alert_first_delay_s: float = Field(
        0.5, ge=0, le=60, description="event time from the finding that opens an alert window "
        "to the alert's first version (0: with that finding's record).  Event time moves with "
        "every host's records, so a host that falls silent is still reported")
    alert_update_interval_s: float = Field(
        60.0, ge=0, le=86_400, description="event time between two versions of one open alert "
        "while its evidence grows (a severity rise is emitted at once; the closed version comes "
        "at the window's end); at or above a rule's alert_window_s (900 s by default), no update "
        "comes between the first version and the closed one.  At most a day: the next version's "
        "due time is kept in nanoseconds of capture time")
    alert_idle_emit_s: float = Field(
        3.0, gt=0, le=5, description="wall-clock quiet on the worker's input after which every "
        "alert with evidence not yet emitted gets an open version (event time stands still "
        "while nothing arrives)")


#: What "internal" means by default: RFC 1918, CGNAT shared space (RFC 6598), IPv4 and IPv6
#: link-local, IPv6 unique local (RFC 4193).  Not the documentation/test ranges (192.0.2.0/24,
#: 2001:db8::/32 ...) that Python's is_private also counts.
DEFAULT_INTERNAL_NETWORKS = (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16",
    "fc00::/7", "fe80::/10",
)


class NetworkSettings(_Section):
    internal: list[str] = Field(
        default_factory=lambda: list(DEFAULT_INTERNAL_NETWORKS),
        description="networks (CIDR) that are the organisation's own: rules that treat internal"
        " destinations differently read this list, and only this list",
    )

    @field_validator("internal")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        for text in value:
            try:
                ipaddress.ip_network(text, strict=False)
            except ValueError:
                raise ValueError(f"{text!r} is not a network (CIDR)") from None
        return value


class Suppression(_Section):
    reason: str = Field(..., min_length=1)
    rule: str | None = None
    src_cidr: str | None = None
    dst_cidr: str | None = None
    payload_class: str | None = None
    initial_ttl: int | None = Field(
        None, ge=1, le=255, description="the TTL the packets left the host with (the arriving"
        " TTL plus the host's hop distance; when the distance is unknown, any TTL up to"
        " suppress.UNKNOWN_HOPS below it); `oddping suppress --campaign` writes it")
    expires: str | None = Field(None, description="ISO 8601 date or time; ignored after it")


class CampaignSettings(_Section):
    """The campaign stage (processors/campaign): one behaviour on many hosts, one finding."""

    enabled: bool = Field(True, description="run the campaign stage after the host stage (scan;"
                          " host alerts carry behaviour_id and campaign_id)")
    stream: bool = Field(
        True, description="also run it in the worker (processors/stream/campaigns.py), as a"
        " second agent in the same process fed through <app_id>-campaign-behaviours: its final"
        " versions equal scan's with any number of workers and after a kill (the README's"
        " Campaigns section); false: host alerts still carry behaviour_id and campaign_id, no"
        " campaign alert comes from the stream")
    min_hosts: int = Field(
        3, ge=2, description="hosts that must share a behaviour's fingerprint before it is a"
        " campaign: below it each host's behaviour stays ordinary alerts (two hosts can share"
        " software by chance; three is where an analyst starts to call it fleet behaviour)")
    window_s: int = Field(
        86400, ge=60, description="a campaign's window of capture time, aligned to the epoch:"
        " the same fingerprint on another day is another campaign (alert_id)")
    host_list_limit: int = Field(
        50, ge=1, le=1000, description="hosts listed in a campaign alert (all are counted)")
    dst_prefix_v4: int = Field(
        16, ge=8, le=32, description="IPv4 destinations enter the fingerprint as prefixes of"
        " this length: a vendor's anycast and regional endpoints differ per host within its"
        " blocks (13.107.4.52 here, 13.107.6.52 there)")
    dst_prefix_v6: int = Field(48, ge=16, le=128, description="the same for IPv6")
    close_after_s: int = Field(
        3600, ge=0, description="event time after a campaign window's end before the stream"
        " closes its campaigns (host alerts of the window's last minutes arrive when their own"
        " windows close, up to an alert window later)")
    growth_bucket_s: int = Field(
        300, ge=1, description="a campaign's growth is the host count at the end of each"
        " bucket of this many seconds in which hosts joined")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ODDPING_", env_nested_delimiter="__", extra="forbid"
    )

    sensor_id: str = Field(default_factory=lambda: os.uname().nodename)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["console", "json"] = "console"
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    capture: CaptureSettings = Field(default_factory=CaptureSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    processor: ProcessorSettings = Field(default_factory=ProcessorSettings)
    # One section per rule id, validated against each rule's own tunables by processors.rules.
    rules: dict[str, dict[str, Any]] = Field(default_factory=dict)
    suppressions: list[Suppression] = Field(default_factory=list)
    campaigns: CampaignSettings = Field(default_factory=CampaignSettings)
    networks: NetworkSettings = Field(default_factory=NetworkSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Earlier wins: flags (init kwargs), then the environment, then the config file.
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _CONFIG_PATH.get()
        if path is not None:
            if path.suffix in (".yaml", ".yml"):
                sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=path))
            else:
                sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


_CONFIG_PATH: ContextVar[Path | None] = ContextVar("oddping_config_path", default=None)


def _check_readable(path: Path) -> None:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"config file {path} is not valid: {first_line}") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a table/mapping at the top level")


def load_config(
    path: str | os.PathLike[str] | None = None, overrides: dict[str, Any] | None = None
) -> Settings:
    """Build the effective Settings: defaults < file < ODDPING_* environment < overrides (flags)."""
    raw = path or os.environ.get(CONFIG_ENV)
    config_path = Path(raw) if raw else None
    if config_path is not None:
        _check_readable(config_path)
    token = _CONFIG_PATH.set(config_path)
    try:
        return Settings(**_nest({k: v for k, v in (overrides or {}).items() if v is not None}))
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise ConfigError(f"invalid configuration at {where}: {err['msg']}") from None
    finally:
        _CONFIG_PATH.reset(token)


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    """{"kafka.topic": x} -> {"kafka": {"topic": x}} so flags can name nested settings."""
    out: dict[str, Any] = {}
    for dotted, value in flat.items():
        node = out
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def masked(settings: Settings) -> dict[str, Any]:
    """The effective configuration as plain data with every secret replaced by '********'."""
    data = settings.model_dump(mode="json")
    for key in ("sasl_password", "ssl_key_password"):
        if data["kafka"].get(key):
            data["kafka"][key] = "********"
    for key in list(data["kafka"]["extra"]):
        if any(word in key for word in ("password", "secret", "token")):
            data["kafka"]["extra"][key] = "********"
    return data
