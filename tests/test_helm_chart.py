"""The Helm chart in helm/oddping, rendered with the real helm CLI (scripts/ensure-helm.sh).

Every rendered object is validated offline against the Kubernetes OpenAPI schemas
(kubernetes-validate, strict); the custom resources (KEDA, Prometheus Operator) against small
schemas here. On top of that: the security settings that matter, the workload shapes, the
oddping.toml the pods read (parsed with oddping's own loader) and the values the chart refuses.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from oddping.config import load_config

pytestmark = pytest.mark.helm

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "helm" / "oddping"
EXAMPLES = sorted((ROOT / "helm" / "examples").glob("*.yaml"))
KUBE_VERSION = "1.30.0"  # a version kubernetes-validate bundles and the chart supports
RELEASE = "hunt"
NAMESPACE = "oddping"
CONFIG_PATH = "/etc/oddping/config/oddping.toml"
WORKLOAD_KINDS = {"DaemonSet", "Deployment", "StatefulSet"}

# Value sets every structural test runs on: the defaults and each example file.
SCENARIOS = ["default"] + [p.stem for p in EXAMPLES]


# ------------------------------------------------------------------------------- helpers


@lru_cache(maxsize=1)
def _ensure_helm() -> tuple[str | None, str]:
    """(path, error) from scripts/ensure-helm.sh, run once per session even when it fails."""
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "ensure-helm.sh")],
        capture_output=True, text=True, timeout=1800,
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines or not Path(lines[-1]).exists():
        return None, f"scripts/ensure-helm.sh failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    return lines[-1], ""


def helm_bin() -> str:
    path, error = _ensure_helm()
    if path is None:
        pytest.fail(error)
    return path


@pytest.fixture(scope="session")
def helm() -> str:
    return helm_bin()


def run_helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([helm_bin(), *args], capture_output=True, text=True, timeout=120)


def scenario_files(name: str) -> tuple[str, ...]:
    return () if name == "default" else (str(ROOT / "helm" / "examples" / f"{name}.yaml"),)


def template_proc(*value_files: str, sets: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION]
    for f in value_files:
        args += ["-f", f]
    for s in sets:
        args += ["--set", s]
    return run_helm(*args)


@lru_cache(maxsize=None)
def _render_cached(value_files: tuple[str, ...], sets: tuple[str, ...]) -> str:
    proc = template_proc(*value_files, sets=sets)
    assert proc.returncode == 0, f"helm template failed:\n{proc.stderr}"
    return proc.stdout


def render(*value_files: str, sets: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(_render_cached(tuple(value_files), tuple(sets))) if d]


def render_values(tmp_path: Path, values: dict[str, Any], *extra_files: str) -> list[dict[str, Any]]:
    return render(*extra_files, write_values(tmp_path, values))


def write_values(tmp_path: Path, values: dict[str, Any]) -> str:
    path = tmp_path / f"values-{hashlib.sha1(json.dumps(values, sort_keys=True).encode()).hexdigest()[:10]}.yaml"
    path.write_text(yaml.safe_dump(values))
    return str(path)


def of_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[dict], kind: str, name: str | None = None) -> dict:
    found = [d for d in of_kind(docs, kind) if name is None or d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {[d['metadata']['name'] for d in found]}"
    return found[0]


def component(doc: dict) -> str | None:
    return doc["metadata"].get("labels", {}).get("app.kubernetes.io/component")


def workloads(docs: list[dict], comp: str | None = None) -> list[dict]:
    return [d for d in docs if d["kind"] in WORKLOAD_KINDS and (comp is None or component(d) == comp)]


def pod_specs(docs: list[dict]) -> list[tuple[str, dict]]:
    specs = []
    for d in docs:
        if d["kind"] in WORKLOAD_KINDS or d["kind"] == "Job":
            specs.append((f"{d['kind']}/{d['metadata']['name']}", d["spec"]["template"]["spec"]))
    return specs


def containers(spec: dict) -> list[dict]:
    return spec.get("initContainers", []) + spec["containers"]


def main_configmap(docs: list[dict]) -> dict:
    return one(docs, "ConfigMap", f"{RELEASE}-oddping")


def load_toml(tmp_path: Path, text: str, monkeypatch: pytest.MonkeyPatch):
    """oddping's own loader on the rendered file, with no ODDPING_* variable leaking in."""
    for key in list(os.environ):
        if key.startswith("ODDPING_"):
            monkeypatch.delenv(key)
    path = tmp_path / "oddping.toml"
    path.write_text(text)
    return load_config(path)


def mounted_file(spec: dict, container: dict, path: str) -> tuple[str, str, str]:
    """Which volume item a file path inside a container is: (volume kind, source name, key)."""
    for mount in container.get("volumeMounts", []):
        prefix = mount["mountPath"].rstrip("/") + "/"
        if not path.startswith(prefix):
            continue
        rel = path[len(prefix):]
        volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
        for kind, name_key in (("secret", "secretName"), ("configMap", "name")):
            if kind in volume:
                src = volume[kind]
                items = src.get("items")
                if items is None:
                    return kind, src[name_key], rel
                for item in items:
                    if item["path"] == rel:
                        return kind, src[name_key], item["key"]
        raise AssertionError(f"{path} is under mount {mount['name']} but no item provides it")
    raise AssertionError(f"{path} is not inside any volume mount of {container['name']}")


# ------------------------------------------------------------------- custom resource schemas

_STR = {"type": "string", "minLength": 1}
_META = {"type": "object", "required": ["name"], "properties": {"name": _STR}}

SCALED_OBJECT = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "ScaledObject"},
        "metadata": _META,
        "spec": {
            "type": "object",
            "required": ["scaleTargetRef", "triggers"],
            "additionalProperties": False,
            "properties": {
                "scaleTargetRef": {
                    "type": "object", "required": ["name"], "additionalProperties": False,
                    "properties": {"apiVersion": _STR, "kind": {"enum": ["Deployment", "StatefulSet"]},
                                   "name": _STR, "envSourceContainerName": _STR},
                },
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "pollingInterval": {"type": "integer", "minimum": 1},
                "cooldownPeriod": {"type": "integer", "minimum": 0},
                "triggers": {
                    "type": "array", "minItems": 1,
                    "items": {
                        "type": "object", "required": ["type", "metadata"], "additionalProperties": False,
                        "properties": {
                            "type": _STR,
                            "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
                            "authenticationRef": {"type": "object", "required": ["name"],
                                                  "properties": {"name": _STR, "kind": _STR}},
                        },
                    },
                },
            },
        },
    },
}

TRIGGER_AUTHENTICATION = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "TriggerAuthentication"},
        "metadata": _META,
        "spec": {
            "type": "object", "required": ["secretTargetRef"], "additionalProperties": False,
            "properties": {"secretTargetRef": {
                "type": "array", "minItems": 1,
                "items": {"type": "object", "required": ["parameter", "name", "key"],
                          "additionalProperties": False,
                          "properties": {"parameter": _STR, "name": _STR, "key": _STR}},
            }},
        },
    },
}

SERVICE_MONITOR = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": _META,
        "spec": {
            "type": "object", "required": ["selector", "endpoints"], "additionalProperties": False,
            "properties": {
                "selector": {"type": "object", "required": ["matchLabels"]},
                "namespaceSelector": {"type": "object"},
                "targetLabels": {"type": "array", "items": _STR},
                "podTargetLabels": {"type": "array", "items": _STR},
                "endpoints": {
                    "type": "array", "minItems": 1,
                    "items": {
                        "type": "object", "required": ["port"], "additionalProperties": False,
                        "properties": {
                            "port": _STR, "path": {"type": "string", "pattern": "^/"},
                            "scheme": {"enum": ["http", "https"]},
                            "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                            "scrapeTimeout": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                            "relabelings": {"type": "array", "items": {"type": "object"}},
                        },
                    },
                },
            },
        },
    },
}

CUSTOM_SCHEMAS = {
    ("keda.sh/v1alpha1", "ScaledObject"): SCALED_OBJECT,
    ("keda.sh/v1alpha1", "TriggerAuthentication"): TRIGGER_AUTHENTICATION,
    ("monitoring.coreos.com/v1", "ServiceMonitor"): SERVICE_MONITOR,
}


def validate_object(doc: dict) -> None:
    """Kubernetes OpenAPI schemas (strict: no unknown field) or, for a custom resource, ours."""
    custom = CUSTOM_SCHEMAS.get((doc["apiVersion"], doc["kind"]))
    where = f"{doc['kind']}/{doc['metadata']['name']}"
    if custom is not None:
        try:
            jsonschema.validate(doc, custom)
        except jsonschema.ValidationError as exc:
            pytest.fail(f"{where}: {'.'.join(map(str, exc.path))}: {exc.message}")
        return
    try:
        kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        pytest.fail(f"{where}: {'.'.join(map(str, exc.path))}: {exc.message}")
    except kubernetes_validate.SchemaNotFoundError as exc:
        pytest.fail(f"no schema to check {doc['apiVersion']} {doc['kind']}: {exc.message}")


# ------------------------------------------------------------------------------ lint/validate


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_helm_lint_strict(helm: str, scenario: str) -> None:
    args = ["lint", "--strict", str(CHART), "--kube-version", KUBE_VERSION]
    for f in scenario_files(scenario):
        args += ["-f", f]
    proc = run_helm(*args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 chart(s) failed" in proc.stdout


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_object_validates_against_the_api_schemas(helm: str, scenario: str) -> None:
    docs = render(*scenario_files(scenario))
    assert docs
    seen = set()
    for doc in docs:
        ident = (doc["kind"], doc["metadata"]["name"], doc["metadata"].get("namespace", NAMESPACE))
        assert ident not in seen, f"{ident} rendered twice"
        seen.add(ident)
        validate_object(doc)


def test_examples_cover_the_optional_features(helm: str) -> None:
    assert {p.stem for p in EXAMPLES} >= {"tls-sasl", "keda", "monitoring", "rocksdb"}
    kinds = {d["kind"] for s in SCENARIOS for d in render(*scenario_files(s))}
    assert kinds >= {"DaemonSet", "Deployment", "StatefulSet", "ScaledObject", "ServiceMonitor",
                     "NetworkPolicy", "PodDisruptionBudget", "Job", "ConfigMap", "Service"}


# ------------------------------------------------------------------------------- security


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_sensor_runs_on_the_host_network_with_exactly_two_capabilities(helm: str, scenario: str) -> None:
    docs = render(*scenario_files(scenario))
    sensors = workloads(docs, "sensor")
    assert sensors and all(d["kind"] == "DaemonSet" for d in sensors)
    for ds in sensors:
        spec = ds["spec"]["template"]["spec"]
        assert spec["hostNetwork"] is True
        assert spec["dnsPolicy"] == "ClusterFirstWithHostNet"
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert spec.get("automountServiceAccountToken") is False
        (c,) = spec["containers"]
        sc = c["securityContext"]
        # capture, and the switch to sensor.captureUser once the capture is open
        assert sorted(sc["capabilities"]["add"]) == ["NET_ADMIN", "NET_RAW", "SETGID", "SETUID"]
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert sc["privileged"] is False
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["seccompProfile"]["type"] == "RuntimeDefault"
        # read-only root: /tmp is an emptyDir
        tmp = next(m for m in c["volumeMounts"] if m["mountPath"] == "/tmp")
        assert "emptyDir" in next(v for v in spec["volumes"] if v["name"] == tmp["name"])
        env = {e["name"]: e for e in c["env"]}
        assert env["ODDPING_SENSOR_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
        assert c["args"][0] == "produce"
        assert c["args"][c["args"].index("--interface") + 1]
        assert c["args"][c["args"].index("--config") + 1] == CONFIG_PATH
        assert c["resources"]["limits"]["memory"] and c["resources"]["limits"]["cpu"]


def test_no_container_is_privileged_anywhere(helm: str) -> None:
    for scenario in SCENARIOS:
        for where, spec in pod_specs(render(*scenario_files(scenario))):
            assert not spec.get("hostPID") and not spec.get("hostIPC"), where
            for c in containers(spec):
                sc = c.get("securityContext", {})
                assert sc.get("privileged") is False, f"{scenario} {where} {c['name']}"
                assert sc.get("allowPrivilegeEscalation") is False, f"{scenario} {where} {c['name']}"
                assert sc["capabilities"]["drop"] == ["ALL"], f"{scenario} {where} {c['name']}"
                assert set(sc["capabilities"].get("add", [])) <= {"NET_RAW", "NET_ADMIN",
                                                                  "SETUID", "SETGID"}
                if "add" in sc["capabilities"]:
                    assert spec.get("hostNetwork") is True, "capture capabilities only for the sensor"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_processor_and_job_meet_pod_security_restricted(helm: str, scenario: str) -> None:
    docs = render(*scenario_files(scenario))
    restricted = workloads(docs, "processor") + of_kind(docs, "Job")
    assert workloads(docs, "processor")
    for d in restricted:
        spec = d["spec"]["template"]["spec"]
        psc = spec["securityContext"]
        assert psc["runAsNonRoot"] is True
        assert psc["runAsUser"] != 0
        assert psc["seccompProfile"]["type"] == "RuntimeDefault"
        assert not spec.get("hostNetwork")
        for c in containers(spec):
            sc = c["securityContext"]
            assert sc["runAsNonRoot"] is True and sc["runAsUser"] != 0
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"] == {"drop": ["ALL"]}
            assert sc["seccompProfile"]["type"] == "RuntimeDefault"
            assert sc["readOnlyRootFilesystem"] is True
            assert c["resources"]["limits"]["memory"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_long_running_container_has_health_probes_on_a_declared_port(helm: str, scenario: str) -> None:
    for d in workloads(render(*scenario_files(scenario))):
        for c in containers(d["spec"]["template"]["spec"]):
            ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
            assert "metrics" in ports, f"{d['metadata']['name']}: no metrics port"
            for probe in ("livenessProbe", "readinessProbe"):
                get = c[probe]["httpGet"]
                assert get["path"] == "/healthz", (d["metadata"]["name"], probe)
                assert get["port"] in ports or get["port"] in ports.values()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_processor_has_pdb_and_anti_affinity(helm: str, scenario: str) -> None:
    docs = render(*scenario_files(scenario))
    (proc,) = workloads(docs, "processor")
    pdb = one(docs, "PodDisruptionBudget")
    labels = proc["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert proc["spec"]["selector"]["matchLabels"].items() <= labels.items()
    anti = proc["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    terms = anti.get("requiredDuringSchedulingIgnoredDuringExecution", []) + [
        t["podAffinityTerm"] for t in anti.get("preferredDuringSchedulingIgnoredDuringExecution", [])
    ]
    assert any(t["topologyKey"] == "kubernetes.io/hostname"
               and t["labelSelector"]["matchLabels"].items() <= labels.items() for t in terms)


def test_pod_selectors_do_not_overlap(helm: str) -> None:
    """Each workload's selector matches only its own pods (pools, processor, sensor)."""
    for scenario in SCENARIOS:
        docs = render(*scenario_files(scenario))
        pods = [(w["metadata"]["name"], w["spec"]["template"]["metadata"]["labels"]) for w in workloads(docs)]
        for w in workloads(docs):
            sel = w["spec"]["selector"]["matchLabels"]
            matched = [name for name, labels in pods if sel.items() <= labels.items()]
            assert matched == [w["metadata"]["name"]], (scenario, w["metadata"]["name"], matched)


# ------------------------------------------------------------------------------ oddping.toml


def test_sensor_drops_root_once_capturing_and_keeps_no_setuid_when_not_root(
        helm: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = render()
    settings = load_toml(tmp_path, main_configmap(docs)["data"]["oddping.toml"], monkeypatch)
    assert settings.capture.user == "oddping"  # the image's uid 10001 (Dockerfile)
    docs = render(sets=("sensor.runAsUser=10001", "sensor.allowPrivilegeEscalation=true"))
    settings = load_toml(tmp_path, main_configmap(docs)["data"]["oddping.toml"], monkeypatch)
    assert settings.capture.user == ""
    (sensor,) = workloads(docs, "sensor")
    (c,) = sensor["spec"]["template"]["spec"]["containers"]
    assert sorted(c["securityContext"]["capabilities"]["add"]) == ["NET_ADMIN", "NET_RAW"]



@pytest.mark.parametrize("scenario", SCENARIOS)
def test_configmap_loads_with_oddpings_own_loader(helm: str, scenario: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    files = scenario_files(scenario)
    docs = render(*files)
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for f in files:
        values = _deep_merge(values, yaml.safe_load(Path(f).read_text()))
    settings = load_toml(tmp_path, main_configmap(docs)["data"]["oddping.toml"], monkeypatch)
    k = values["kafka"]
    assert settings.kafka.bootstrap_servers == k["bootstrapServers"]
    assert settings.kafka.records_topic == "icmp.records" == k["recordsTopic"]
    assert settings.kafka.alerts_topic == "icmp.alerts" == k["alertsTopic"]
    assert settings.kafka.dead_letter_topic == "icmp.records.dlq" == k["deadLetterTopic"]
    assert settings.kafka.partitions == k["partitions"]
    assert settings.kafka.replication_factor == k["replicationFactor"]
    assert settings.kafka.security_protocol == k["securityProtocol"]
    assert settings.kafka.extra == k["extra"]
    assert settings.kafka.sasl_password is None, "the password must not be in the ConfigMap"
    assert settings.metrics.host == "0.0.0.0"
    assert settings.metrics.port == values["metrics"]["port"]
    assert settings.processor.store == values["processor"]["store"]
    assert settings.processor.data_dir == values["processor"]["dataDir"]
    assert settings.processor.app_id == values["processor"]["appId"]
    assert settings.processor.alert_format == values["processor"]["alertFormat"]
    assert settings.processor.fetch_partition_bytes == values["processor"]["fetchPartitionBytes"]
    assert settings.processor.poll_records == values["processor"]["pollRecords"]
    assert settings.rules == values["rules"]
    assert [s.model_dump(exclude_none=True) for s in settings.suppressions] == values["suppressions"]


def _deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def test_rules_suppressions_and_odd_strings_reach_the_loader(helm: str, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    tricky = 'say "hi" \\ back\tslash — ünïcode <&> # not a comment'
    values = {
        "rules": {
            "tiny_payload": {"enabled": False},
            "ping_sweep": {"severity": "high", "alert_window_s": 300, "evidence_limit": 5},
            "icmp_tunnel": {"enabled": True, "alert_window_s": 0.5},
        },
        "suppressions": [
            {"reason": tricky, "src_cidr": "10.0.0.0/8"},
            {"reason": "scanner", "rule": "scanner_payload", "dst_cidr": "192.0.2.0/24",
             "payload_class": "nmap_os_detection", "expires": "2030-01-31"},
        ],
        "kafka": {"extra": {"linger.ms": 50, "compression.type": "zstd", "enable.idempotence": True}},
        "config": {"capture": {"host_observation_interval_s": 30}},
        "logLevel": "DEBUG",
        "internalNetworks": ["10.0.0.0/8", "fd00::/8"],
    }
    docs = render_values(tmp_path, values)
    settings = load_toml(tmp_path, main_configmap(docs)["data"]["oddping.toml"], monkeypatch)
    assert settings.rules["tiny_payload"]["enabled"] is False
    assert settings.rules["ping_sweep"] == {"severity": "high", "alert_window_s": 300, "evidence_limit": 5}
    assert settings.rules["icmp_tunnel"] == {"enabled": True, "alert_window_s": 0.5}
    assert settings.suppressions[0].reason == tricky
    assert settings.suppressions[1].model_dump(exclude_none=True) == values["suppressions"][1]
    assert settings.kafka.extra == {"linger.ms": 50, "compression.type": "zstd", "enable.idempotence": True}
    assert settings.capture.host_observation_interval_s == 30
    assert settings.log_level == "DEBUG"
    assert settings.networks.internal == ["10.0.0.0/8", "fd00::/8"]


def test_config_changes_roll_the_pods(helm: str, tmp_path: Path) -> None:
    base = render()
    changed = render_values(tmp_path, {"rules": {"tiny_payload": {"enabled": False}}})
    for docs in (base, changed):
        toml = main_configmap(docs)["data"]["oddping.toml"]
        for w in workloads(docs):
            annotation = w["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
            assert annotation == hashlib.sha256(toml.encode()).hexdigest(), w["metadata"]["name"]
    before = {w["metadata"]["name"]: w["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
              for w in workloads(base)}
    for w in workloads(changed):
        assert w["spec"]["template"]["metadata"]["annotations"]["checksum/config"] != before[w["metadata"]["name"]]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_containers_read_the_configmap(helm: str, scenario: str) -> None:
    docs = render(*scenario_files(scenario))
    for where, spec in pod_specs(docs):
        for c in spec["containers"]:
            assert c["args"][c["args"].index("--config") + 1] == CONFIG_PATH
            env = {e["name"]: e.get("value") for e in c["env"]}
            assert env["ODDPING_CONFIG"] == CONFIG_PATH
            kind, name, key = mounted_file(spec, c, CONFIG_PATH)
            assert (kind, key) == ("configMap", "oddping.toml"), where
            cm = one(docs, "ConfigMap", name)
            assert cm["data"]["oddping.toml"] == main_configmap(docs)["data"]["oddping.toml"]
        assert spec.get("enableServiceLinks") is False, f"{where}: service links would add ODDPING_* env"


# ------------------------------------------------------------------------- kafka security


def test_sasl_password_and_ca_come_from_existing_secrets(helm: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    docs = render(*scenario_files("tls-sasl"))
    settings = load_toml(tmp_path, main_configmap(docs)["data"]["oddping.toml"], monkeypatch)
    assert settings.kafka.security_protocol == "SASL_SSL"
    assert settings.kafka.sasl_mechanism == "SCRAM-SHA-512"
    assert settings.kafka.sasl_username == "oddping"
    assert not any(s.get("kind") == "Secret" for s in docs), "the chart must not copy secrets"
    for where, spec in pod_specs(docs):
        for c in spec["containers"]:
            env = {e["name"]: e for e in c["env"]}
            ref = env["ODDPING_KAFKA__SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]
            assert ref == {"name": "oddping", "key": "password"}, where
            assert mounted_file(spec, c, settings.kafka.ssl_ca_location) == (
                "secret", "my-cluster-cluster-ca-cert", "ca.crt")


def test_client_certificate_comes_from_the_kafkauser_secret(helm: str, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    docs = render(*scenario_files("keda"))
    settings = load_toml(tmp_path, main_configmap(docs)["data"]["oddping.toml"], monkeypatch)
    assert settings.kafka.security_protocol == "SSL"
    for where, spec in pod_specs(docs):
        for c in spec["containers"]:
            assert mounted_file(spec, c, settings.kafka.ssl_certificate_location) == ("secret", "oddping", "user.crt")
            assert mounted_file(spec, c, settings.kafka.ssl_key_location) == ("secret", "oddping", "user.key")
            assert mounted_file(spec, c, settings.kafka.ssl_ca_location) == (
                "secret", "my-cluster-cluster-ca-cert", "ca.crt")
            assert "ODDPING_KAFKA__SASL_PASSWORD" not in {e["name"] for e in c["env"]}


# ---------------------------------------------------------------------------- workload shapes


def test_default_processor_is_a_deployment_with_replicas(helm: str) -> None:
    docs = render()
    (proc,) = workloads(docs, "processor")
    assert proc["kind"] == "Deployment"
    assert proc["spec"]["replicas"] == 2
    assert not of_kind(docs, "StatefulSet")


def test_rocksdb_store_renders_a_statefulset_with_a_volume_claim_template(helm: str, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    docs = render(*scenario_files("rocksdb"))
    assert not of_kind(docs, "Deployment")
    sts = one(docs, "StatefulSet")
    (vct,) = sts["spec"]["volumeClaimTemplates"]
    assert vct["spec"]["resources"]["requests"]["storage"] == "20Gi"
    assert vct["spec"]["accessModes"] == ["ReadWriteOnce"]
    svc = one(docs, "Service", sts["spec"]["serviceName"])
    assert svc["spec"]["clusterIP"] == "None"
    settings = load_toml(tmp_path, main_configmap(docs)["data"]["oddping.toml"], monkeypatch)
    assert settings.processor.store == "rocksdb"
    (c,) = sts["spec"]["template"]["spec"]["containers"]
    data = next(m for m in c["volumeMounts"] if m["name"] == vct["metadata"]["name"])
    assert data["mountPath"] == settings.processor.data_dir
    assert not any(v["name"] == vct["metadata"]["name"] for v in sts["spec"]["template"]["spec"]["volumes"])
    affinity = sts["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    assert affinity["requiredDuringSchedulingIgnoredDuringExecution"]


def test_sensor_pools_render_one_daemonset_each(helm: str) -> None:
    docs = render(*scenario_files("tls-sasl"))
    sensors = {d["metadata"]["name"]: d for d in workloads(docs, "sensor")}
    assert set(sensors) == {f"{RELEASE}-oddping-sensor-edge", f"{RELEASE}-oddping-sensor-core"}
    edge = sensors[f"{RELEASE}-oddping-sensor-edge"]["spec"]["template"]["spec"]
    core = sensors[f"{RELEASE}-oddping-sensor-core"]["spec"]["template"]["spec"]
    edge_args, core_args = edge["containers"][0]["args"], core["containers"][0]["args"]
    assert edge_args[edge_args.index("--interface") + 1] == "bond0"
    assert edge_args[edge_args.index("--bpf") + 1] == "not net 10.99.0.0/16"
    assert core_args[core_args.index("--interface") + 1] == "ens5"
    assert "--bpf" not in core_args
    assert edge["nodeSelector"] == {"oddping.io/sensor": "edge"}
    assert edge["tolerations"][0]["key"] == "dedicated"
    assert core["nodeSelector"] == {"oddping.io/sensor": "core"}
    # shared settings still come from `sensor`
    assert core["containers"][0]["resources"]["limits"]["memory"] == "512Mi"


def test_sensor_scheduling_interface_and_bpf_from_values(helm: str, tmp_path: Path) -> None:
    values = {"sensor": {
        "interface": "ens3f0", "bpf": "not host 10.0.0.1", "metricsPort": 19102,
        "nodeSelector": {"oddping.io/sensor": "true"},
        "tolerations": [{"key": "sensor", "operator": "Exists", "effect": "NoSchedule"}],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}]}]}}},
    }}
    docs = render_values(tmp_path, values)
    (ds,) = workloads(docs, "sensor")
    spec = ds["spec"]["template"]["spec"]
    c = spec["containers"][0]
    assert c["args"][c["args"].index("--interface") + 1] == "ens3f0"
    assert c["args"][c["args"].index("--bpf") + 1] == "not host 10.0.0.1"
    # Helm merges maps with the defaults: the os selector stays
    assert spec["nodeSelector"] == {"kubernetes.io/os": "linux", "oddping.io/sensor": "true"}
    assert spec["tolerations"] == values["sensor"]["tolerations"]
    assert spec["affinity"] == values["sensor"]["affinity"]
    assert c["ports"] == [{"name": "metrics", "containerPort": 19102, "protocol": "TCP"}]
    env = {e["name"]: e for e in c["env"]}
    assert env["ODDPING_METRICS__PORT"]["value"] == "19102"
    assert env["ODDPING_METRICS__HOST"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.hostIP"
    svc = one(docs, "Service", f"{RELEASE}-oddping-sensor")
    assert svc["spec"]["ports"][0]["port"] == 19102


def test_topics_hook_job(helm: str, tmp_path: Path) -> None:
    docs = render()
    job = one(docs, "Job")
    hook_cm = one(docs, "ConfigMap", f"{RELEASE}-oddping-topics")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert hook_cm["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    # the ConfigMap is created before the Job (lower weight): the release's own one does not exist yet
    assert int(hook_cm["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
        job["metadata"]["annotations"]["helm.sh/hook-weight"])
    spec = job["spec"]["template"]["spec"]
    assert spec["restartPolicy"] == "Never"
    (c,) = spec["containers"]
    assert c["args"][:2] == ["topics", "create"]
    assert mounted_file(spec, c, CONFIG_PATH) == ("configMap", hook_cm["metadata"]["name"], "oddping.toml")
    # the chart's ServiceAccount does not exist yet at pre-install time either
    assert "serviceAccountName" not in spec
    off = render_values(tmp_path, {"topics": {"create": False}})
    assert not of_kind(off, "Job")
    assert [cm["metadata"]["name"] for cm in of_kind(off, "ConfigMap")] == [f"{RELEASE}-oddping"]


# ------------------------------------------------------------------------- optional objects


def test_optional_objects_are_off_by_default(helm: str) -> None:
    kinds = {d["kind"] for d in render()}
    assert not kinds & {"ScaledObject", "TriggerAuthentication", "ServiceMonitor", "NetworkPolicy"}
    assert not [cm for cm in of_kind(render(), "ConfigMap") if "grafana_dashboard" in cm["metadata"]["labels"]]


def test_keda_scaled_object_only_when_enabled(helm: str) -> None:
    docs = render(*scenario_files("keda"))
    values = yaml.safe_load((ROOT / "helm" / "examples" / "keda.yaml").read_text())
    so = one(docs, "ScaledObject")
    (proc,) = workloads(docs, "processor")
    assert so["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": proc["kind"],
                                            "name": proc["metadata"]["name"]}
    assert "replicas" not in proc["spec"], "KEDA owns the replica count"
    assert so["spec"]["maxReplicaCount"] <= values["kafka"]["partitions"]
    (trigger,) = so["spec"]["triggers"]
    assert trigger["type"] == "kafka"
    assert trigger["metadata"]["consumerGroup"] == "oddping"
    assert trigger["metadata"]["topic"] == "icmp.records"
    assert trigger["metadata"]["bootstrapServers"] == values["kafka"]["bootstrapServers"]
    auth = one(docs, "TriggerAuthentication", trigger["authenticationRef"]["name"])
    params = {r["parameter"]: (r["name"], r["key"]) for r in auth["spec"]["secretTargetRef"]}
    assert params["ca"] == ("my-cluster-cluster-ca-cert", "ca.crt")
    assert params["cert"] == ("oddping", "user.crt") and params["key"] == ("oddping", "user.key")
    mode_secret = one(docs, "Secret", params["tls"][0])
    assert mode_secret["stringData"]["tls"] == "enable"


def test_keda_with_sasl_and_a_statefulset(helm: str, tmp_path: Path) -> None:
    values = {"keda": {"enabled": True, "maxReplicaCount": 12}, "processor": {"store": "rocksdb"}}
    docs = render(*scenario_files("tls-sasl"), write_values(tmp_path, values))
    so = one(docs, "ScaledObject")
    assert so["spec"]["scaleTargetRef"]["kind"] == "StatefulSet"
    assert "replicas" not in one(docs, "StatefulSet")["spec"]
    auth = one(docs, "TriggerAuthentication")
    params = {r["parameter"]: (r["name"], r["key"]) for r in auth["spec"]["secretTargetRef"]}
    assert params["password"] == ("oddping", "password")
    mode = one(docs, "Secret")["stringData"]
    assert mode == {"sasl": "scram_sha512", "username": "oddping", "tls": "enable"}
    for doc in docs:
        validate_object(doc)


def test_service_monitor_selects_the_metrics_services(helm: str) -> None:
    docs = render(*scenario_files("monitoring"))
    sm = one(docs, "ServiceMonitor")
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    selected = [s for s in of_kind(docs, "Service")
                if sm["spec"]["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items()]
    assert {component(s) for s in selected} == {"sensor", "processor"}
    port = sm["spec"]["endpoints"][0]["port"]
    assert sm["spec"]["endpoints"][0]["path"] == "/metrics"
    for svc in selected:
        assert port in {p["name"] for p in svc["spec"]["ports"]}
        pods = [w for w in workloads(docs) if svc["spec"]["selector"].items()
                <= w["spec"]["template"]["metadata"]["labels"].items()]
        assert pods, f"Service {svc['metadata']['name']} selects no workload"


def test_network_policy_and_dashboard(helm: str) -> None:
    docs = render(*scenario_files("monitoring"))
    np = one(docs, "NetworkPolicy")
    assert set(np["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    exprs = np["spec"]["podSelector"]["matchExpressions"]
    assert exprs[0]["values"] == ["processor", "topics"]
    egress_ports = {p["port"] for rule in np["spec"]["egress"] for p in rule.get("ports", [])}
    assert {53, 9092, 9093} <= egress_ports
    dash = one(docs, "ConfigMap", f"{RELEASE}-oddping-dashboard")
    assert dash["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dash["metadata"]["namespace"] == "monitoring"
    board = json.loads(dash["data"]["oddping.json"])
    assert board["uid"] and board["title"] == "oddping"
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    assert exprs and all("$namespace" in e for e in exprs)
    # the dashboard file in the chart is the one shipped
    assert board == json.loads((CHART / "dashboards" / "oddping.json").read_text())


# ------------------------------------------------------------------------------ bad values

BAD_VALUES = [
    ({"processor": {"replicas": 0}}, "/processor/replicas"),
    ({"processor": {"replicas": 1.5}}, "/processor/replicas"),
    ({"processor": {"replicas": "2"}}, "/processor/replicas"),
    ({"processor": {"store": "leveldb"}}, "/processor/store"),
    ({"processor": {"alertFormat": "cef"}}, "/processor/alertFormat"),
    ({"processor": {"replcas": 2}}, "replcas"),
    ({"sensor": {"interface": ""}}, "/sensor/interface"),
    ({"sensor": {"interface": "eth0 eth1"}}, "/sensor/interface"),
    ({"sensor": {"interface": None}}, "missing property 'interface'"),
    ({"sensor": {"resources": {"requests": {"cpu": "1"}, "limits": None}}}, "/sensor/resources"),
    ({"sensor": {"pools": [{"name": "Edge Pool"}]}}, "/sensor/pools/0/name"),
    ({"sensor": {"pools": [{"interface": "eth1"}]}}, "/sensor/pools/0"),
    ({"kafka": {"bootstrapServers": ""}}, "/kafka/bootstrapServers"),
    ({"kafka": {"partitions": 0}}, "/kafka/partitions"),
    ({"kafka": {"securityProtocol": "TLS"}}, "/kafka/securityProtocol"),
    ({"kafka": {"sasl": {"mechanism": "GSSAPI"}}}, "/kafka/sasl/mechanism"),
    ({"metrics": {"port": 70000}}, "/metrics/port"),
    ({"logLevel": "TRACE"}, "/logLevel"),
    ({"rules": {"tiny_paylod": {"enabled": False}}}, "tiny_paylod"),
    ({"rules": {"tiny_payload": {"enabled": "no"}}}, "/rules/tiny_payload/enabled"),
    ({"rules": {"tiny_payload": {"severity": "urgent"}}}, "/rules/tiny_payload/severity"),
    # the rules' own tunables, from their Tunables models (processors/generated.py)
    ({"rules": {"ping_sweep": {"min_destinatons": 5}}}, "min_destinatons"),
    ({"rules": {"ping_sweep": {"min_destinations": 1}}}, "/rules/ping_sweep/min_destinations"),
    ({"suppressions": [{"src_cidr": "10.0.0.0/8"}]}, "reason"),
    ({"suppressions": [{"reason": "x", "expires": "next tuesday"}]}, "/suppressions/0/expires"),
    ({"keda": {"enabled": "yes"}}, "/keda/enabled"),
    ({"serviceMonitor": {"enabled": True, "interval": "often"}}, "/serviceMonitor/interval"),
    ({"processor": {"persistence": {"size": "lots"}}}, "/processor/persistence/size"),
]


@pytest.mark.parametrize("values,field", BAD_VALUES, ids=[f for _, f in BAD_VALUES])
def test_schema_rejects_bad_values_naming_the_field(helm: str, tmp_path: Path, values: dict, field: str) -> None:
    proc = template_proc(write_values(tmp_path, values))
    assert proc.returncode != 0, f"accepted {values}"
    assert "don't meet the specifications of the schema" in proc.stderr, proc.stderr
    assert field in proc.stderr, proc.stderr


GUARDED = [
    ({"processor": {"replicas": 7}}, "processor.replicas (7) must not exceed kafka.partitions (6)"),
    ({"kafka": {"partitions": 2}, "processor": {"replicas": 3}},
     "processor.replicas (3) must not exceed kafka.partitions (2)"),
    ({"keda": {"enabled": True, "maxReplicaCount": 9}}, "keda.maxReplicaCount (9) must not exceed kafka.partitions (6)"),
    ({"keda": {"enabled": True, "minReplicaCount": 5, "maxReplicaCount": 4}}, "keda.minReplicaCount"),
    ({"kafka": {"securityProtocol": "SASL_SSL"}}, "kafka.sasl.mechanism is required"),
    ({"kafka": {"securityProtocol": "SASL_SSL", "sasl": {"mechanism": "SCRAM-SHA-512", "username": "u"}}},
     "kafka.sasl.passwordSecret.name is required"),
    ({"kafka": {"sasl": {"mechanism": "PLAIN"}}}, "does not use SASL"),
    ({"kafka": {"tls": {"caSecret": {"name": "ca", "key": "ca.crt"}}}}, "does not use TLS"),
    ({"sensor": {"pools": [{"name": "a"}, {"name": "a"}]}}, 'the name "a" is used twice'),
]


@pytest.mark.parametrize("values,message", GUARDED, ids=[m for _, m in GUARDED])
def test_template_guards_reject_inconsistent_values(helm: str, tmp_path: Path, values: dict, message: str) -> None:
    proc = template_proc(write_values(tmp_path, values))
    assert proc.returncode != 0, f"accepted {values}"
    assert message in proc.stderr, proc.stderr


def test_replicas_up_to_partitions_are_accepted(helm: str, tmp_path: Path) -> None:
    docs = render_values(tmp_path, {"kafka": {"partitions": 3}, "processor": {"replicas": 3}})
    assert workloads(docs, "processor")[0]["spec"]["replicas"] == 3


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_notes_render(helm: str, scenario: str, tmp_path: Path) -> None:
    """`helm template` never prints NOTES.txt (and install --dry-run needs a cluster): render it
    from a copy of the chart in which a template includes it."""
    chart = tmp_path / "chart"
    shutil.copytree(CHART, chart)
    notes = (CHART / "templates" / "NOTES.txt").read_text()
    (chart / "templates" / "_notes_probe.tpl").write_text(
        '{{- define "notes-probe" -}}\n' + notes + '{{- end }}\n')
    (chart / "templates" / "notes-probe.yaml").write_text(
        'notes: |\n  {{- include "notes-probe" . | nindent 2 }}\n')
    args = ["template", RELEASE, str(chart), "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION,
            "--show-only", "templates/notes-probe.yaml"]
    for f in scenario_files(scenario):
        args += ["-f", f]
    proc = run_helm(*args)
    assert proc.returncode == 0, proc.stderr
    text = yaml.safe_load(proc.stdout)["notes"]
    assert "<no value>" not in text
    assert f'release "{RELEASE}"' in text and "icmp.alerts" in text
    assert f"get configmap {RELEASE}-oddping" in text


def test_readme_documents_every_value() -> None:
    readme = (CHART / "README.md").read_text()
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    missing = []

    def walk(node: dict, prefix: str) -> None:
        for key, value in node.items():
            path = f"{prefix}{key}"
            if f"| `{path}` |" in readme:
                continue
            if isinstance(value, dict) and value:
                walk(value, path + ".")
            else:
                missing.append(path)

    walk(values, "")
    assert not missing, f"values without a row in helm/oddping/README.md: {missing}"
    for example in EXAMPLES:
        assert example.name in readme


# ----------------------------------------------------------------- contract with oddping itself


def _oddping() -> list[str]:
    script = Path(sys.executable).with_name("oddping")
    return [str(script)] if script.exists() else [sys.executable, "-m", "oddping"]


def test_container_args_are_accepted_by_the_oddping_cli(helm: str) -> None:
    """Every option the chart passes exists on the real command (click rejects unknown ones
    before it handles --help)."""
    commands = {tuple(c["args"]) for _, spec in pod_specs(render(*scenario_files("tls-sasl")))
                for c in spec["containers"]}
    assert any("--bpf" in args for args in commands)
    missing = []
    for args in sorted(commands):
        sub = [a for a in args if not a.startswith("-")][: 2 if args[0] == "topics" else 1]
        probe = subprocess.run(_oddping() + [*sub, "--help"], capture_output=True, text=True, timeout=60)
        if probe.returncode != 0 and "No such command" in probe.stderr:
            missing.append(" ".join(sub))
            continue
        proc = subprocess.run(_oddping() + [*args, "--help"], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, f"oddping {' '.join(args)}: {proc.stderr}"
    if missing:
        pytest.fail(f"the chart runs oddping commands that do not exist: {missing}")


def test_env_the_chart_sets_overrides_the_file(helm: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = render(*scenario_files("tls-sasl"))
    toml = main_configmap(docs)["data"]["oddping.toml"]
    names = {e["name"] for _, spec in pod_specs(docs) for c in spec["containers"] for e in c["env"]}
    samples = {"ODDPING_SENSOR_ID": "node-7", "ODDPING_METRICS__HOST": "10.1.2.3",
               "ODDPING_METRICS__PORT": "19102", "ODDPING_KAFKA__SASL_PASSWORD": "s3cret"}
    assert names - {"ODDPING_CONFIG", "POD_NAME"} == set(samples)
    for key in list(os.environ):
        if key.startswith("ODDPING_"):
            monkeypatch.delenv(key)
    for name, value in samples.items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "oddping.toml"
    path.write_text(toml)
    settings = load_config(path)
    assert settings.sensor_id == "node-7"
    assert (settings.metrics.host, settings.metrics.port) == ("10.1.2.3", 19102)
    assert settings.kafka.sasl_password.get_secret_value() == "s3cret"
    assert settings.kafka.sasl_username == "oddping"  # the file still applies where env is silent
