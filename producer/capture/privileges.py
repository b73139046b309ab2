"""Drop root once the capture handle is open, as `tcpdump -Z user` does.

Opening a live capture needs root (or CAP_NET_RAW); reading from the open handle, decoding and
publishing do not.  So a sensor started as root becomes `capture.user` right after the handle is
open, for the rest of its life: groups, gid, then uid (in that order: once the uid is dropped
it may no longer change the others).  glibc applies setuid/setgid to every thread, librdkafka's
included.  The Kafka client has read its certificates and keys before this point.
"""

from __future__ import annotations

import grp
import os
import pwd

from oddping.logs import get_logger

log = get_logger("oddping.produce")


class PrivilegeError(Exception):
    """The configured user cannot be switched to; one line for the user."""


def drop_privileges(user: str | None) -> None:
    """Become `user` when running as root; nothing when `user` is empty or we are not root."""
    if not user or os.geteuid() != 0:
        return
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise PrivilegeError(f"capture.user {user!r} does not exist: create it, or set "
                             "capture.user to an existing unprivileged user") from None
    if entry.pw_uid == 0:
        raise PrivilegeError(f"capture.user {user!r} is root: choose an unprivileged user")
    groups = [g.gr_gid for g in grp.getgrall() if user in g.gr_mem]
    os.setgroups(groups)
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)
    try:
        os.setuid(0)
    except PermissionError:
        pass
    else:  # pragma: no cover - would mean the drop did not happen
        raise PrivilegeError(f"could regain root after switching to {user!r}")
    log.info("dropped root", user=user, uid=entry.pw_uid, gid=entry.pw_gid)
