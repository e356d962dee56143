"""The capability layer: which of root's privileges the container keeps.

Linux splits root's power into about 40 capabilities.  Each process has five
sets: *bounding* (the most it can ever have again), *permitted* (what it may
use), *effective* (what the kernel checks now), *inheritable* and *ambient*
(what survives execve).  A container keeps Docker's 14 defaults; everything
else, CAP_SYS_ADMIN first of all, is dropped from the bounding set so that not
even a setuid binary can bring it back.  The inheritable set is empty, as in
runc, except for a user's ambient capabilities.

Inside a user namespace these are capabilities over that namespace's resources,
not the host's; without one (``--userns host``) they are the real thing.

Example::

    from minicontainer import capabilities

    keep = {"CAP_CHOWN", "CAP_KILL"}
    capabilities.before_user_switch(keep)
    capabilities.apply(keep, root=True, ambient=set())   # inheritable: empty
"""

from __future__ import annotations

import prctl

from minicontainer import native


def normalize(name: str) -> str:
    """``chown``, ``CAP_CHOWN``, ``Cap_Chown`` -> ``CAP_CHOWN``; ``all`` -> ``ALL``.

    Raises ValueError for a name that is not a capability.
    """
    upper = name.strip().upper()
    if upper == "ALL":
        return "ALL"
    canonical = upper if upper.startswith("CAP_") else f"CAP_{upper}"
    if canonical not in ALL:
        raise ValueError(name)
    return canonical


# Bit N of a capability mask is NAMES[N], in the order of <linux/capability.h>.  (Not
# python-prctl's list, which lacks CAP_CHECKPOINT_RESTORE and holds CAP_LAST_CAP, the
# same bit 40 under another name.)
NAMES = tuple(f"CAP_{name.upper()}" for name in (
    "chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid",
    "setuid", "setpcap", "linux_immutable", "net_bind_service", "net_broadcast",
    "net_admin", "net_raw", "ipc_lock", "ipc_owner", "sys_module", "sys_rawio",
    "sys_chroot", "sys_ptrace", "sys_pacct", "sys_admin", "sys_boot", "sys_nice",
    "sys_resource", "sys_time", "sys_tty_config", "mknod", "lease", "audit_write",
    "audit_control", "setfcap", "mac_override", "mac_admin", "syslog", "wake_alarm",
    "block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore"))
ALL = frozenset(NAMES)


def number(name: str) -> int:
    """The bit of capability ``name`` (``chown``, ``CAP_CHOWN``, ``Cap_Chown``) in a
    capability mask, as in ``<linux/capability.h>``: ``chown`` is 0, ``sys_admin`` 21.

    Bit N of a ``Cap*`` line of ``/proc/PID/status`` (hexadecimal) is capability N.
    Raises ValueError for a name that is not one capability.
    """
    upper = name.strip().upper()
    canonical = upper if upper.startswith("CAP_") else f"CAP_{upper}"
    if canonical not in NAMES:
        raise ValueError(name)
    return NAMES.index(canonical)


def decode(mask: int | str) -> set[str]:
    """The names of the capabilities whose bits are set in ``mask``: a number, or a
    ``Cap*`` field of ``/proc/PID/status`` as written there, in hexadecimal
    (``00000000a80425fb``, Docker's 14 defaults).  Bits past the last capability this
    module knows are left out."""
    bits = int(mask, 16) if isinstance(mask, str) else mask
    return {name for bit, name in enumerate(NAMES) if bits >> bit & 1}


def resolve(base: frozenset[str], add: list[str], drop: list[str]) -> tuple[set[str], set[str]]:
    """The capability set after ``--cap-add``/``--cap-drop``, and the added ones.

    Drops are applied first and adds win, as in Docker: ``--cap-drop ALL
    --cap-add CHOWN`` leaves exactly CHOWN.
    """
    added = set()
    for name in add:
        added |= ALL if normalize(name) == "ALL" else {normalize(name)}
    dropped = set()
    for name in drop:
        dropped |= ALL if normalize(name) == "ALL" else {normalize(name)}
    return (set(base) - dropped) | added, added


def _numbers(names: set[str]) -> list[int]:
    return [NAMES.index(name) for name in names]


def _in_bounding_set() -> set[str]:
    """What this process can still hold: a host may already lack some (CAP_SYS_RESOURCE
    on some VMs, CAP_CHECKPOINT_RESTORE before Linux 5.9), and ``ALL`` then means all
    that is left."""
    with open("/proc/self/status") as f:
        bounding = next(line for line in f if line.startswith("CapBnd:"))
    return decode(bounding.split()[1])


def before_user_switch(bounding: set[str]) -> None:
    """Limit the bounding set, and keep the permitted set over the coming uid change.

    Both must happen while the init is still root: dropping from the bounding set
    needs CAP_SETPCAP in the effective set, which a switch to another uid empties.
    ``PR_SET_KEEPCAPS`` (cleared again by execve) lets :func:`apply` then decide
    what a non-root user holds.
    """
    prctl.capbset.limit(*_numbers(bounding))
    prctl.set_keepcaps(True)


def apply(bounding: set[str], root: bool, ambient: set[str],
          inheritable: set[str] | frozenset[str] = frozenset()) -> None:
    """Set the permitted, effective, inheritable and ambient sets, after the user switch.

    Root keeps ``bounding`` in its permitted and effective sets (execve gives
    them back to root anyway).  Another user keeps only ``ambient`` (the
    capabilities added for it), which must be inheritable and permitted before
    the kernel lets it be ambient; it survives execve because it is ambient.

    The inheritable set holds those ambient ones and only what ``inheritable``
    asks for: nothing by default.  Whatever it holds, a program file with the
    same *inheritable file capabilities* gains as permitted, whoever runs it,
    and the set survives a switch to another user (``su``): held by root, it
    would hand capabilities to any user of the container (CVE-2022-24769).
    """
    usable = _in_bounding_set()
    held = (bounding if root else ambient & bounding) & usable
    passed_on = _numbers((set(inheritable) | (set() if root else held)) & bounding & usable)
    prctl.cap_inheritable.limit(*passed_on)
    prctl.set_caps((passed_on, prctl.CAP_INHERITABLE, True))
    numbers = _numbers(held)
    prctl.cap_effective.limit(*numbers)  # effective must stay within permitted: drop it first
    prctl.cap_permitted.limit(*numbers)
    prctl.set_caps((numbers, prctl.CAP_EFFECTIVE, True))
    native.ambient(native.PR_CAP_AMBIENT_CLEAR_ALL)
    if not root:
        for number in numbers:
            native.ambient(native.PR_CAP_AMBIENT_RAISE, number)
