"""The primitives and the Container API, used from Python as a script would."""

from __future__ import annotations

import os

from minicontainer import Config, Container
from minicontainer import namespaces as ns


def _in_child(flags, body) -> int:
    """Run ``body`` in a clone with ``flags``; return its exit status."""
    pid = ns.clone(flags)
    if pid == 0:
        try:
            os._exit(body())
        finally:
            os._exit(99)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_clone_is_fork_like_into_new_namespaces():
    host_uts = ns.inode("self", ns.Namespace.UTS)

    def body():
        ns.set_hostname("cloned")
        same = os.uname().nodename == "cloned" and ns.inode("self", ns.Namespace.UTS) != host_uts
        return 0 if os.getpid() == 1 and same else 1

    assert _in_child(ns.Namespace.PID | ns.Namespace.UTS, body) == 0
    assert os.uname().nodename != "cloned"


def test_unshare_moves_the_caller():
    host_uts = ns.inode("self", ns.Namespace.UTS)

    def body():
        ns.unshare(ns.Namespace.UTS)
        return 0 if ns.inode("self", ns.Namespace.UTS) != host_uts else 1

    assert _in_child(0, body) == 0


def test_setns_joins_another_process():
    read_end, write_end = os.pipe()
    ready_r, ready_w = os.pipe()
    holder = ns.clone(ns.Namespace.UTS)
    if holder == 0:
        os.close(write_end)
        ns.set_hostname("held")
        os.write(ready_w, b"x")
        os.read(read_end, 1)
        os._exit(0)
    os.close(read_end)
    os.close(ready_w)
    os.read(ready_r, 1)
    os.close(ready_r)
    try:
        def body():
            ns.setns(holder, ns.Namespace.UTS)
            return 0 if os.uname().nodename == "held" else 1

        assert _in_child(0, body) == 0
    finally:
        os.close(write_end)
        os.waitpid(holder, 0)


def test_container_run_returns_the_exit_code_and_takes_fds(tmp_path):
    out = tmp_path / "out"
    with open(out, "w") as f:
        code = Container(Config(args=["hostname"], hostname="x")).run(stdout=f.fileno())
    assert code == 0
    assert out.read_text() == "x\n"


def test_config_round_trips_through_oci():
    cfg = Config(args=["sh"], hostname="h", env=["A=1"], uid=5, gid=6)
    again = Config.from_oci(cfg.to_oci())
    assert again.to_oci() == cfg.to_oci()


def test_a_start_that_fails_before_the_clone_leaves_no_fd_and_no_signal_handler(tmp_path):
    import signal

    from minicontainer.errors import ContainerError
    from minicontainer.namespaces import ALL, Namespace

    not_a_netns = tmp_path / "not-a-netns"
    not_a_netns.write_text("")
    cfg = Config(args=["true"], namespaces=ALL & ~Namespace.NET, network="container",
                 network_path=str(not_a_netns))
    fds = sorted(os.listdir("/proc/self/fd"))
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    for _ in range(2):
        try:
            Container(cfg).run()
        except (ContainerError, OSError) as e:
            assert str(not_a_netns) in str(e)
        else:
            raise AssertionError("a container started in a file that is no netns")
    assert sorted(os.listdir("/proc/self/fd")) == fds
    assert {s: signal.getsignal(s) for s in handlers} == handlers
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == mask
