"""oddping: hunts odd ICMP echo traffic from capture to SIEM-ready alerts."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("oddping")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+unknown"

RECORD_SCHEMA_VERSION = 1
ALERT_SCHEMA_VERSION = 2
