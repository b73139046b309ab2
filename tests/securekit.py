"""The secured listeners of the test broker (dev/kafka/kafka.sh): where they are, the
least-privilege principals' credentials, and oddping's settings to use them.

kafka.sh makes, per install, a CA, a server certificate for 127.0.0.1, one client certificate
(CN=<user>) and one random SCRAM password per principal, all under $KAFKA_DATA_DIR/tls.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

from confluent_kafka.admin import AdminClient, NewTopic
from kafkakit import BOOTSTRAP

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("KAFKA_DATA_DIR", ROOT / "var" / "kafka")).resolve()
TLS = DATA_DIR / "tls"
PORT = int(BOOTSTRAP.rsplit(":", 1)[1])
SSL_PORT = int(os.environ.get("KAFKA_SSL_PORT", PORT + 3))
SASL_SSL_PORT = int(os.environ.get("KAFKA_SASL_SSL_PORT", PORT + 4))

TRANSPORTS = ("ssl", "scram-sha-256", "scram-sha-512")


def password(user: str) -> str:
    return (TLS / f"{user}.password").read_text().strip()


def all_passwords() -> list[str]:
    return [p.read_text().strip() for p in TLS.glob("*.password")]


def kafka_env(user: str, transport: str, **settings: str) -> dict[str, str]:
    """ODDPING_KAFKA__* for `user` over `transport` (mTLS with its certificate, or SASL_SSL
    with SCRAM); `settings` override kafka settings by field name."""
    env = {"ODDPING_KAFKA__SSL_CA_LOCATION": str(TLS / "ca.pem")}
    if transport == "ssl":
        env |= {"ODDPING_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{SSL_PORT}",
                "ODDPING_KAFKA__SECURITY_PROTOCOL": "SSL",
                "ODDPING_KAFKA__SSL_CERTIFICATE_LOCATION": str(TLS / f"{user}.crt"),
                "ODDPING_KAFKA__SSL_KEY_LOCATION": str(TLS / f"{user}.key")}
    else:
        env |= {"ODDPING_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{SASL_SSL_PORT}",
                "ODDPING_KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
                "ODDPING_KAFKA__SASL_MECHANISM": transport.upper(),
                "ODDPING_KAFKA__SASL_USERNAME": user,
                "ODDPING_KAFKA__SASL_PASSWORD": password(user)}
    env |= {f"ODDPING_KAFKA__{k.upper()}": v for k, v in settings.items()}
    return env


def super_admin() -> AdminClient:
    """PLAINTEXT is User:ANONYMOUS, a super user of the test broker."""
    return AdminClient({"bootstrap.servers": BOOTSTRAP})


def create_topics(*names: str, partitions: int = 2) -> None:
    config = {"retention.ms": "-1", "retention.bytes": str(1 << 30)}
    admin = super_admin()  # kept alive until the futures are done
    futures = admin.create_topics([NewTopic(n, partitions, 1, config=config) for n in names])
    for future in futures.values():
        future.result(30)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def foreign_ca(directory: Path) -> Path:
    """A CA that signed nothing the broker serves."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "other-ca.key",
            "-out", "other-ca.pem", "-days", "30", "-subj", "/CN=some other CA", cwd=directory)
    return directory / "other-ca.pem"


def expired_client_cert(directory: Path, user: str) -> tuple[Path, Path]:
    """A certificate for `user` signed by the broker's own CA, valid only in January 2020."""
    (directory / "index.txt").write_text("")
    (directory / "serial").write_text("1000\n")
    (directory / "ca.cnf").write_text(
        "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\n"
        "default_md = sha256\npolicy = p\n[p]\ncommonName = supplied\n")
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out",
            "expired.key", cwd=directory)
    openssl("req", "-new", "-key", "expired.key", "-subj", f"/CN={user}", "-out", "expired.csr",
            cwd=directory)
    openssl("ca", "-batch", "-config", "ca.cnf", "-cert", str(TLS / "ca.pem"), "-keyfile",
            str(TLS / "ca.key"), "-in", "expired.csr", "-out", "expired.crt", "-notext",
            "-startdate", "20200101000000Z", "-enddate", "20200102000000Z", cwd=directory)
    return directory / "expired.crt", directory / "expired.key"
