"""Loading a kernel module: code of the container's choosing runs in the host's kernel.

There is one kernel for the host and all its containers.  A process holding
CAP_SYS_MODULE may load a module into it (``init_module``/``finit_module``), and
a module runs with the kernel's full power: it can rewrite any process's
credentials, read any memory, hide itself.  No namespace changes that, so a
container that can load a module owns its host.

The demo loads a harmless in-tree module that does nothing on load
(``crc-itu-t``, a CRC table for a few drivers, absent from the kernel until
someone loads it): the host side copies its ``.ko`` into a read-only volume, the
attack runs busybox ``insmod`` on it, the proof is the module in the host's
``/proc/modules``, and the host side unloads it again.

What stops it:

- capabilities: CAP_SYS_MODULE is not in the default set (and the seccomp
  profile, which follows the capabilities, refuses the calls too);
- the user namespace: the kernel checks CAP_SYS_MODULE in the *initial* user
  namespace, which root of a user namespace never holds.

Incident: the stock answer to "what can a ``--privileged`` container do" since
Docker's early days; rootkits such as Diamorphine are plain modules.
"""

from __future__ import annotations

import os
import shutil

from minicontainer.escapes.base import Attempt, Escape

MODULE = "crc_itu_t"
MODULE_FILE = "kernel/lib/crc-itu-t.ko"
IN_CONTAINER = "/mc-module"


def _module_path() -> str:
    return os.path.join("/lib/modules", os.uname().release, MODULE_FILE)


def _loaded() -> bool:
    with open("/proc/modules") as f:
        return any(line.split()[0] == MODULE for line in f)


class ModuleLoad(Escape):
    """Load (and have unloaded) a harmless module into the host kernel."""

    name = "module-load"
    title = "load a kernel module into the host's kernel"
    attacks = "CAP_SYS_MODULE: init_module/finit_module"
    incident = "--privileged: insmod a rootkit"
    weakening = ["--cap-add", "SYS_MODULE", "--userns", "host"]
    stopped_by = ["capabilities", "user ns"]
    host_changes = True
    timeout = 60.0

    def missing(self) -> str | None:
        """Needs loadable modules, the module's file, and the module not yet loaded."""
        if not os.path.exists("/proc/modules"):
            return "this kernel has no loadable module support (no /proc/modules)"
        if not os.path.exists(_module_path()):
            return f"no {_module_path()} for this kernel"
        if _loaded() or os.path.exists(f"/sys/module/{MODULE}"):
            return f"{MODULE} is already in the kernel, so loading it would prove nothing"
        return None

    def plant(self, attempt: Attempt) -> None:
        """A copy of the module's file, readable from any container, in a read-only volume."""
        os.chmod(attempt.workdir, 0o755)
        copy = attempt.path(os.path.basename(MODULE_FILE))
        shutil.copyfile(_module_path(), copy)
        os.chmod(copy, 0o644)
        attempt.flags += ["-v", f"{attempt.workdir}:{IN_CONTAINER}:ro"]
        attempt.env["MC_MODULE"] = f"{IN_CONTAINER}/{os.path.basename(MODULE_FILE)}"
        attempt.env["MC_MODULE_NAME"] = MODULE

    def proven(self, attempt: Attempt) -> bool:
        """The module is in the host kernel's /proc/modules."""
        return _loaded()

    def restore(self, attempt: Attempt) -> None:
        """Unload the module if the attack loaded it (missing() made sure it was not
        there before)."""
        if os.path.exists("/proc/modules") and _loaded():
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            if libc.delete_module(MODULE.encode(), os.O_NONBLOCK) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"delete_module({MODULE}): {os.strerror(err)}")


ESCAPE = ModuleLoad()
