"""Importing any part of processors first, in a fresh interpreter, leaves ``import
processors.engine`` working: rules may import the alerts, the alerts never import the rules,
and the package does not import the engine eagerly."""

from __future__ import annotations

import subprocess
import sys

import pytest

from processors.rules import RULE_MODULES

FIRST = [module.__name__ for module in RULE_MODULES] + [
    "processors.ruleskit.base",
    "processors.alerts",
    "processors.alerts.ecs",
    "processors.alerts.ocsf",
    "processors.findings",
    "processors",
]


def run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize("first", FIRST)
def test_the_engine_imports_after(first: str) -> None:
    done = run(f"import {first}\nimport processors.engine\nprint(processors.engine.Engine)")
    assert done.returncode == 0, done.stderr.strip().splitlines()[-1:]


def test_the_alert_renderers_never_load_the_rule_registry() -> None:
    done = run("import sys, processors.alerts\nprint('processors.rules' in sys.modules,"
               " 'processors.engine' in sys.modules)")
    assert done.stdout.split() == ["False", "False"], done.stderr


def test_a_rule_importing_the_alerts_first_breaks_nothing(tmp_path) -> None:
    """The cycle the issue met: a rule module that imports a formatter from processors.alerts,
    loaded before the engine."""
    rule = tmp_path / "myrule.py"
    rule.write_text("from processors.alerts import iso_ns\nimport processors.ruleskit.base\n")
    done = run(f"import sys; sys.path.insert(0, {str(tmp_path)!r})\nimport myrule\n"
               "import processors.engine\nprint('ok')")
    assert done.stdout.strip() == "ok", done.stderr.strip().splitlines()[-1:]
