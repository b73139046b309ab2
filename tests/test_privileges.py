"""capture.user: the sensor's switch away from root refuses, in one line, what it cannot do
safely (the switch itself is tested live: tests/test_kafka_secured.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from producer.capture.privileges import PrivilegeError, drop_privileges


def test_empty_user_or_not_root_changes_nothing() -> None:
    before = os.getresuid()
    drop_privileges("")
    drop_privileges(None)
    assert os.getresuid() == before


@pytest.mark.parametrize("user, reason", [("no-such-user-x9", "does not exist"),
                                          ("root", "is root")])
def test_unusable_user_is_refused_in_one_line(user: str, reason: str) -> None:
    if os.geteuid() != 0:
        pytest.fail("run the tests as CI does (root): the switch only happens as root")
    with pytest.raises(PrivilegeError, match=reason) as caught:
        drop_privileges(user)
    assert "\n" not in str(caught.value)
    assert os.geteuid() == 0


def test_switch_leaves_no_way_back() -> None:
    """In a child process: after the switch, root cannot be regained."""
    if os.geteuid() != 0:
        pytest.fail("run the tests as CI does (root): the switch only happens as root")
    code = ("import os; from producer.capture.privileges import drop_privileges;"
            "drop_privileges('nobody'); print(os.getresuid(), os.getresgid(), os.getgroups())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    import pwd

    entry = pwd.getpwnam("nobody")
    uid, gid = entry.pw_uid, entry.pw_gid
    last = out.stdout.strip().splitlines()[-1]  # after the "dropped root" log line
    assert last == f"({uid}, {uid}, {uid}) ({gid}, {gid}, {gid}) []"
