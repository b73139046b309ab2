"""The Dockerfile, checked without a Docker engine: what it builds from, who it runs as, and that
its build context (after .dockerignore) holds the same project the tests install and builds it.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, keyword: str) -> list[str]:
        return [a for k, a in self.instructions if k == keyword]

    def runs(self) -> str:
        return "\n".join(self.args("RUN"))


def parse_dockerfile(text: str) -> list[Stage]:
    """Instructions with line continuations joined and comments dropped, grouped by stage."""
    logical: list[str] = []
    buf = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if buf and line.startswith("#"):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        logical.append(buf + line)
        buf = ""
    assert not buf, "Dockerfile ends inside a continued line"
    stages: list[Stage] = []
    for entry in logical:
        keyword, _, rest = entry.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            m = re.fullmatch(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", rest.strip(), re.I)
            assert m, f"cannot read FROM {rest!r}"
            stages.append(Stage(m.group(1), m.group(2)))
        else:
            assert stages, f"{keyword} before the first FROM"
            stages[-1].instructions.append((keyword, rest.strip()))
    return stages


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile(DOCKERFILE.read_text())


def ignore_patterns() -> list[str]:
    lines = [l.strip() for l in DOCKERIGNORE.read_text().splitlines()]
    return [l for l in lines if l and not l.startswith("#")]


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go filepath.Match plus `**`), anchored at the context root."""
    regex, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            regex, i = regex + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            regex, i = regex + ".*", i + 2
        elif pattern[i] == "*":
            regex, i = regex + "[^/]*", i + 1
        elif pattern[i] == "?":
            regex, i = regex + "[^/]", i + 1
        else:
            regex, i = regex + re.escape(pattern[i]), i + 1
    return re.compile(regex)


def ignored(rel: str, patterns: list[str]) -> bool:
    """Docker's rule: a path is left out when it or a parent directory matches a pattern; a later
    `!pattern` brings it back."""
    parts = rel.strip("/").split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    out = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = _pattern_regex(pattern.lstrip("!").strip("/"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            out = not negate
    return out


# ---------------------------------------------------------------------------- base images


def test_multi_stage_from_pinned_slim_python(stages: list[Stage]) -> None:
    assert len(stages) >= 2, "builder and runtime stages"
    names = [s.name for s in stages]
    assert names[0] == "builder" and names[-1] == "runtime"
    for stage in stages:
        repo, _, tag = stage.image.partition(":")
        assert repo in ("python", "docker.io/library/python"), stage.image
        assert tag and tag != "latest", f"{stage.image} is not pinned by tag"
        assert re.fullmatch(r"3\.11\.\d+-slim(-\w+)?", tag), f"{stage.image}: pin a full 3.11.x slim tag"
        assert "$" not in stage.image, "the base image is pinned in the file, not by a build arg"
    assert len({s.image for s in stages}) == 1, "builder and runtime use the same Python"


def test_python_version_satisfies_the_project(stages: list[Stage]) -> None:
    tag = stages[-1].image.partition(":")[2]
    major, minor = map(int, tag.split("-")[0].split(".")[:2])
    required = PYPROJECT["project"]["requires-python"]
    m = re.fullmatch(r">=\s*(\d+)\.(\d+)", required)
    assert m, required
    assert (major, minor) >= (int(m.group(1)), int(m.group(2)))


# ---------------------------------------------------------------------------- what it builds


def test_builder_builds_wheels_of_the_repository_root(stages: list[Stage]) -> None:
    builder = stages[0]
    copies = builder.args("COPY")
    assert any(shlex.split(c)[:2] == [".", "."] or "pyproject.toml" in c for c in copies), copies
    runs = builder.runs()
    m = re.search(r"pip wheel\b(.*)", runs)
    assert m, "the builder runs pip wheel"
    wheel_args = shlex.split(m.group(1).replace("${", "{"))
    assert "/wheels" in m.group(1)
    targets = [a for a in wheel_args if a == "." or a.startswith(".[") or a.startswith(".{")]
    assert targets, f"pip wheel must build the project at the context root: {wheel_args}"


def test_runtime_installs_the_project_from_the_wheels_only(stages: list[Stage]) -> None:
    runtime = stages[-1]
    runs = runtime.runs()
    name = PYPROJECT["project"]["name"]
    m = re.search(r"pip install\b(.*?)(&&|$)", runs, re.S)
    assert m, "the runtime stage pip-installs the project"
    install = m.group(1)
    assert "--no-index" in install and "/wheels" in install, install
    assert re.search(rf'"?{re.escape(name)}(\[|"|\s|$|\$)', install), f"installs {name}: {install}"
    assert "from=builder" in runs or any("--from=builder" in c for c in runtime.args("COPY"))
    assert "build-essential" not in runs and "gcc" not in runs, "no compiler in the runtime image"


def test_runtime_has_libpcap(stages: list[Stage]) -> None:
    runs = stages[-1].runs()
    assert re.search(r"apt-get install[^\n]*\blibpcap0\.8\b", runs), "Debian's libpcap0.8 in the runtime stage"
    assert "rm -rf /var/lib/apt/lists/*" in runs


def test_runs_as_non_root_with_the_oddping_entrypoint(stages: list[Stage]) -> None:
    runtime = stages[-1]
    users = runtime.args("USER")
    assert users, "USER is set in the runtime stage"
    uid = users[-1].split(":")[0]
    assert uid == "10001", f"runs as uid 10001, not {users[-1]!r}"
    assert "useradd" in runtime.runs() and "--uid 10001" in runtime.runs()
    script = PYPROJECT["project"]["scripts"]
    assert "oddping" in script
    assert runtime.args("ENTRYPOINT") == ['["oddping"]']
    assert runtime.args("CMD") == ['["--help"]']


def test_both_entry_points_are_documented() -> None:
    text = DOCKERFILE.read_text()
    assert "produce --interface" in text
    assert "NET_RAW" in text and "NET_ADMIN" in text
    assert re.search(r"\bprocess\b --config", text)


# ---------------------------------------------------------------------------- build context


def test_dockerignore_excludes_local_state() -> None:
    patterns = ignore_patterns()
    for path in (".venv", ".venv/bin/python", ".git", ".git/HEAD", ".cache/bin/helm", "var/run.log",
                 "tests/test_x.py", "bench/out/result.json", "captures/a.pcap", "x/__pycache__/m.pyc"):
        assert ignored(path, patterns), f"{path} is sent to the Docker daemon"


def test_dockerignore_keeps_what_the_build_needs() -> None:
    patterns = ignore_patterns()
    needed = ["pyproject.toml", "README.md"]
    for include in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]:
        pkg = include.rstrip("*")
        if (ROOT / pkg).is_dir():
            needed += [pkg, f"{pkg}/__init__.py"]
    for path in needed:
        assert not ignored(path, patterns), f".dockerignore drops {path}, which the build needs"


def _can_build_wheels_offline() -> bool:
    """setuptools >= 70.1 has bdist_wheel built in; older ones need the `wheel` package."""
    try:
        import setuptools
    except ImportError:
        return False
    version = tuple(int(p) for p in re.findall(r"\d+", setuptools.__version__)[:2])
    required = re.search(r"setuptools>=([\d.]+)", " ".join(PYPROJECT["build-system"]["requires"]))
    if required and version < tuple(int(p) for p in required.group(1).split(".")[:2]):
        return False
    return version >= (70, 1) or importlib.util.find_spec("wheel") is not None


def test_build_context_builds_the_same_project(tmp_path: Path) -> None:
    """What the builder stage does, here: pip wheel the context that .dockerignore leaves."""
    patterns = ignore_patterns()
    context = tmp_path / "context"

    def skip(directory: str, names: list[str]) -> set[str]:
        rel_dir = Path(directory).relative_to(ROOT)
        return {n for n in names if ignored((rel_dir / n).as_posix(), patterns)}

    shutil.copytree(ROOT, context, ignore=skip, symlinks=True)
    assert not (context / ".venv").exists() and not (context / ".git").exists()
    assert not (context / "tests").exists()
    out = tmp_path / "wheels"
    # Offline with this interpreter's setuptools when it can build wheels by itself; otherwise an
    # isolated build that fetches build-system.requires, exactly as the image's builder does.
    isolation = [] if _can_build_wheels_offline() else ["--disable-pip-version-check"]
    offline = ["--no-build-isolation", "--no-index"] if not isolation else []
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", *offline, *isolation,
         "-q", "-w", str(out), "."],
        cwd=context, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = out.glob("*.whl")
    name = PYPROJECT["project"]["name"]
    assert wheel.name.startswith(f"{name}-{PYPROJECT['project']['version']}-")
    with zipfile.ZipFile(wheel) as zf:
        files = set(zf.namelist())
        assert "oddping/config.py" in files
        entry_points = next(f for f in files if f.endswith(".dist-info/entry_points.txt"))
        assert "oddping = oddping_cli.main:main" in zf.read(entry_points).decode()
        metadata = zf.read(next(f for f in files if f.endswith(".dist-info/METADATA"))).decode()
    requires = [Requirement(line.split(":", 1)[1]) for line in metadata.splitlines()
                if line.startswith("Requires-Dist:")]
    shipped = {(r.name.lower(), str(r.specifier), r.marker is None) for r in requires}
    for dep in map(Requirement, PYPROJECT["project"]["dependencies"]):
        assert (dep.name.lower(), str(dep.specifier), True) in shipped, f"{dep} missing from the wheel"
    assert any(r.name == "rocksdict" and r.marker and "rocksdb" in str(r.marker) for r in requires)
