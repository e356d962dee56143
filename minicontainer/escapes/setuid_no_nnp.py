"""A setuid-root program run by an ordinary user, without no_new_privs.

A program file with the setuid bit runs with the effective uid of its owner,
whoever starts it: that is how ``passwd`` or ``sudo`` become root.  In a
container whose processes run as an ordinary user (``-u 1000``), any setuid-root
program in the image — an old ``su``, a forgotten debugging tool, a binary the
attacker planted in a writable layer before — is a way back to root.

``no_new_privs`` (``prctl(PR_SET_NO_NEW_PRIVS)``, Docker's
``--security-opt no-new-privileges``) is a one-way switch inherited across
fork and execve: once set, execve ignores the setuid and setgid bits and file
capabilities, so no program can give the process more than it had.  It is the
layer that stops this: the capability bounding set does not, since becoming
the owner of a file needs no capability at all, and the user namespace does not
either, since the escalation is to the container's root, who owns the
container's files.

The demo plants a secret file on the host, mode 0600 and owned by the host uid
of the container's root, and mounts it at ``/secret``; the attack, as uid 1000,
cannot read it, but through ``mc-escape-setuid-reader`` (setuid root in the
default rootfs) it can.  Incident: setuid binaries in images (CIS Docker 4.8,
"remove setuid and setgid permissions in the images"; CIS 5.25, "restrict the
container from acquiring additional privileges").
"""

from __future__ import annotations

import os

from minicontainer import idmap
from minicontainer.escapes.base import Attempt, Escape


class SetuidNoNnp(Escape):
    """Become the container's root through a setuid-root program."""

    name = "setuid-no-nnp"
    title = "setuid root without no_new_privs"
    attacks = "a setuid-root binary in the image, run by a non-root user (-u 1000)"
    incident = "CIS Docker 4.8 and 5.25: setuid binaries, no-new-privileges"
    scenario = ["-u", "1000"]
    weakening = ["--security-opt", "no-new-privileges=false"]
    stopped_by = ["no_new_privs"]

    def plant(self, attempt: Attempt) -> None:
        """A root-only file holding the secret, owned by the container's root, mounted
        at /secret.

        "The container's root" is the host uid the default user namespace maps
        uid 0 to; without a user namespace it is host root, who may read it anyway.
        """
        owner = idmap.default_mappings("uid")[0].host_id
        group = idmap.default_mappings("gid")[0].host_id
        secret = attempt.path("secret")
        os.mkdir(secret, 0o755)
        os.chown(secret, owner, group)
        with open(os.path.join(secret, "secret"), "w") as f:
            f.write(attempt.secret + "\n")
        os.chmod(os.path.join(secret, "secret"), 0o600)
        os.chown(os.path.join(secret, "secret"), owner, group)
        attempt.flags = ["-v", f"{secret}:/secret:ro"]


ESCAPE = SetuidNoNnp()
