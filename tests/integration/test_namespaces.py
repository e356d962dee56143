"""Each namespace, seen from inside the container, with its shared twin."""

from __future__ import annotations

import os
import socket

import pytest

from helpers import probe, sh
from minicontainer.namespaces import Namespace, inode

SHARABLE = ["pid", "net", "ipc", "uts", "cgroup", "user"]


def test_init_is_pid_1_and_host_processes_are_invisible():
    seen = probe()
    assert seen["pid"] == 1
    pids = sh(script="ls /proc | grep '^[0-9]*$'").split()
    assert str(os.getpid()) not in pids
    assert len(pids) <= 3  # sh, ls and grep at the most


def test_shared_pid_namespace_shows_host_processes():
    seen = probe("--share", "pid")
    assert seen["pid"] != 1
    pids = sh("--share", "pid", script="ls /proc | grep '^[0-9]*$'").split()
    assert str(os.getpid()) in pids


def test_hostname_change_stays_inside():
    host = socket.gethostname()
    out = sh("--hostname", "before", "--cap-add", "SYS_ADMIN",
             script="hostname; hostname changed && hostname")
    assert out.split() == ["before", "changed"]
    assert socket.gethostname() == host


def test_shared_uts_namespace_is_the_hosts_hostname():
    # Writes back the host's own name: proves the namespace is the host's without changing it.
    host = socket.gethostname()
    out = sh("--share", "uts", "--userns", "host", "--cap-add", "SYS_ADMIN",
             script='hostname "$(hostname)" && hostname')
    assert out.strip() == host


def test_only_loopback_exists_and_is_up():
    out = sh(script="ls /sys/class/net; cat /sys/class/net/lo/operstate /sys/class/net/lo/flags")
    names = out.split()
    assert names[0] == "lo" and len(names) == 3
    assert int(names[2], 16) & 0x1  # IFF_UP


def test_shared_network_namespace_shows_host_interfaces():
    out = sh("--share", "net", script="ls /sys/class/net")
    assert sorted(out.split()) == sorted(os.listdir("/sys/class/net"))


@pytest.mark.parametrize("name", SHARABLE)
def test_namespace_inode_differs_unless_shared(name):
    ns = Namespace.from_name(name)
    host = inode("self", ns)
    private = probe()["namespaces"][ns.proc_name]
    flags = ["--userns", "host"] if name == "user" else ["--share", name]
    shared = probe(*flags)["namespaces"][ns.proc_name]
    assert private != host
    assert shared == host


def test_mount_namespace_is_always_new():
    assert probe()["namespaces"]["mnt"] != inode("self", Namespace.MNT)
