"""The host's kernel keyring, read with ``keyctl`` (no user namespace, no seccomp).

The kernel keyring holds secrets for the kernel and for programs: Kerberos
tickets, filesystem encryption keys, credentials of network filesystems.  Each
user has a user keyring (``@u``), shared by all of that user's processes.  Keys
are not namespaced by any namespace but the user namespace: a container whose
root is the host's root (``--userns host``) reaches host root's keyring with
the same ``keyctl(2)`` call as any host process of root.

Two layers stand in the way, each alone.  The user namespace: container root
is another user, with a user keyring of its own, in which the host's keys are
not.  The default seccomp profile: ``keyctl``, ``add_key`` and
``request_key`` fail, as in Docker's profile, exactly because keyrings are not
namespaced.  No capability is involved: reading a key in one's own user
keyring needs none.

The demo adds a ``user`` key named ``mc-escape-<nonce>`` with a secret as its
payload to host root's user keyring (with Debian's ``keyctl``, package
keyutils), gives it a timeout of two minutes at once (host root's user keyring
outlives the demo: a crash must not leave the key there for good), and unlinks
it afterwards; the attack (``mc-escape-host-keyring``)
searches ``@u`` for the key and reads it.  Incident: "Yet another reason
containers don't contain: kernel keyrings" (Project Atomic, 2014) and moby
issue #10939 (kernel keyrings are not namespaced), the reason Docker's default
seccomp profile has blocked the keyring calls since 2015; runc gives each
container a session keyring of its own (runc #488), which does not hide ``@u``.
"""

from __future__ import annotations

import shutil
import subprocess

from minicontainer.escapes.base import Attempt, Escape

KEY_LIFETIME = 120  # seconds: the kernel removes the key then, should restore() never run


class HostKeyring(Escape):
    """Read a key from host root's kernel keyring."""

    name = "host-keyring"
    title = "host root's kernel keyring"
    attacks = "keyctl(2) on the user keyring (@u) of container root = host root"
    incident = "moby #10939: kernel keyrings are not namespaced"
    weakening = ["--userns", "host", "--security-opt", "seccomp=unconfined"]
    stopped_by = ["user ns", "seccomp"]

    def missing(self) -> str | None:
        """The host side needs Debian's keyctl to plant and remove the key."""
        if shutil.which("keyctl") is None:
            return "keyctl is not installed (Debian package keyutils)"
        return None

    def plant(self, attempt: Attempt) -> None:
        """A user key with the secret as payload, in host root's user keyring, that
        expires by itself in two minutes."""
        description = f"mc-escape-{attempt.nonce}"
        result = subprocess.run(["keyctl", "add", "user", description, attempt.secret, "@u"],
                                capture_output=True, text=True, check=True)
        attempt.key = result.stdout.strip()
        subprocess.run(["keyctl", "timeout", attempt.key, str(KEY_LIFETIME)],
                       capture_output=True, check=True)
        attempt.env["MC_KEY"] = description

    def restore(self, attempt: Attempt) -> None:
        """Unlink the key from host root's user keyring (the kernel then frees it)."""
        key = getattr(attempt, "key", None)
        if key is not None:
            subprocess.run(["keyctl", "unlink", key, "@u"], capture_output=True, check=True)


ESCAPE = HostKeyring()
