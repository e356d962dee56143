"""Checks of lab 01: the student's mini_init.py, judged by what its container shows.

The student's program runs inside a stand-in host (a throwaway mount namespace,
:class:`minicontainer.labs.StandInHost`): a /proc mounted without a mount namespace of
its own lands on the stand-in's mount table, never on the real host's.
"""

import os
import signal
import subprocess
import sys
import time

from minicontainer.labs import StandInHost, failed, passed, read_status
from minicontainer.namespaces import Namespace

PROGRAM = "mini_init.py"
ORPHAN = """
import os, time
if os.fork() == 0:
    if os.fork() == 0:
        time.sleep(0.3)
        print("ORPHAN PPID", os.getppid(), flush=True)
        os._exit(0)
    os._exit(0)
os.wait()
print("ORPHANED", flush=True)
time.sleep(20)
"""


def _host_pid_ns() -> str:
    return os.readlink("/proc/self/ns/pid")


def _host_processes() -> int:
    return sum(entry.isdigit() for entry in os.listdir("/proc"))


def _run(ctx, *args):
    """Run the program in a stand-in host of its own."""
    with StandInHost(Namespace.MNT) as host:
        return ctx.run(PROGRAM, *args, host=host)


def _in_new_pid_ns(ctx) -> str | None:
    """The command's pid namespace if it is not the host's, else None."""
    ran = _run(ctx, "readlink", "/proc/self/ns/pid")
    namespace = ran.stdout.strip()
    return namespace if ran.returncode == 0 and namespace and namespace != _host_pid_ns() \
        else None


def runs_a_command(ctx):
    """mini_init.py runs COMMAND and passes its output through"""
    ran = _run(ctx, "sh", "-c", f"echo hello-{ctx.nonce}")
    if ran.returncode == 0 and f"hello-{ctx.nonce}" in ran.stdout:
        return passed(f"`mini_init.py sh -c 'echo hello-{ctx.nonce}'` printed it, exit 0")
    return failed(f"`mini_init.py sh -c 'echo ...'`: {ran.summary()}",
                  "run it by hand: `sudo minicontainer lab run 01 -- sh -c 'echo hi'` and read the "
                  "traceback")


def new_pid_namespace(ctx):
    """COMMAND runs in a new PID namespace, as a child of your init (pid 1)"""
    ran = _run(ctx, "sh", "-c", "readlink /proc/self/ns/pid; echo $$ $PPID")
    lines = ran.stdout.split()
    if ran.returncode != 0 or len(lines) < 3:
        return failed(f"`mini_init.py sh -c ...`: {ran.summary()}",
                      "the first step must pass first")
    namespace, pid, parent = lines[:3]
    if namespace == _host_pid_ns():
        return failed(f"COMMAND is in the host's {namespace} (its pid is {pid}, a host pid)",
                      "clone() without CLONE_NEWPID is a plain fork: which Namespace flag "
                      "gives the child a process tree of its own?")
    if parent != "1":
        return failed(f"COMMAND is in {namespace} but its parent is pid {parent}, not 1",
                      "init (the clone's child) must fork the command and stay its parent")
    return passed(f"COMMAND is pid {pid} in {namespace} (host: {_host_pid_ns()}); "
                  "its parent is pid 1, your init")


def own_proc(ctx):
    """ps inside shows only the container (a fresh /proc), the host's /proc is untouched"""
    with StandInHost(Namespace.MNT) as stand_in:
        before = stand_in.proc_mounts()
        ran = ctx.run(PROGRAM, "sh", "-c",
                      "ls -d /proc/[0-9]* | wc -l; tr '\\0' ' ' < /proc/1/cmdline",
                      host=stand_in)
        after = stand_in.proc_mounts()
    host = _host_processes()
    if after > before:
        return failed("a new procfs appeared on the /proc of the host it ran on (a stand-in: "
                      "the real host's /proc is untouched)",
                      "your new /proc propagated to the host: it must be mounted in a mount "
                      "namespace of your own, with private propagation")
    lines = ran.stdout.splitlines()
    if ran.returncode != 0 or len(lines) < 2:
        return failed(f"`mini_init.py sh -c 'ls /proc'`: {ran.summary()}",
                      "remounting /proc needs a new mount namespace: is Namespace.MNT among "
                      "the clone flags?")
    count, first = int(lines[0].strip()), lines[1].strip()
    if count > 10 or PROGRAM not in first:
        return failed(f"ps inside sees {count} processes and pid 1 is `{first[:60]}`: the "
                      f"host's (host: {host})",
                      "the pid namespace is new but /proc is still the host's procfs, which "
                      "numbers the host's processes: mount one made from inside"
                      if _in_new_pid_ns(ctx) else
                      "COMMAND shares the host's pid namespace: make the step before pass")
    return passed(f"inside: {count} processes, pid 1 is `{first[:50]}`; host: {host}. A new "
                  "pid namespace with the host's /proc would list all of the host's")


def reaps_orphans(ctx):
    """your init reaps orphans (no zombie is left under pid 1)"""
    if _in_new_pid_ns(ctx) is None:
        return failed("COMMAND is not in a new pid namespace, so orphans go to the host's "
                      "init", "make the 'new PID namespace' step pass first")
    with StandInHost(Namespace.MNT) as host:
        return _judge_orphans(ctx.start(PROGRAM, sys.executable, "-c", ORPHAN, host=host))


def _judge_orphans(running):
    try:
        if not running.wait_for("ORPHANED", timeout=5):
            return failed("the test command did not start under mini_init.py",
                          "make the first step pass first")
        time.sleep(0.8)  # the orphan exits 0.3 s after its parent
        init = running.children()
        zombies = [pid for parent in init for pid in running.children(parent)
                   if (read_status(pid) or {}).get("State") == "Z"]
    finally:
        running.stop()
    if zombies:
        return failed(f"zombie {zombies} hangs under your init (host pid {init[0]})",
                      "an orphan is re-parented to pid 1 and stays a zombie until pid 1 "
                      "waits for it: waitpid(child) waits for one child only")
    return passed("an orphan re-parented to your init was reaped")


def forwards_sigterm(ctx):
    """SIGTERM from the host stops the container (your init handles it)"""
    if _in_new_pid_ns(ctx) is None:
        return failed("COMMAND is not in a new pid namespace: the init is an ordinary "
                      "process that SIGTERM simply kills", "make the 'new PID namespace' step "
                      "pass first")
    with StandInHost(Namespace.MNT) as host:
        return _judge_sigterm(ctx.start(PROGRAM, "sh", "-c", "echo READY; exec sleep 20",
                                        host=host))


def _judge_sigterm(running):
    try:
        if not running.wait_for("READY", timeout=5):
            return failed("`mini_init.py sh -c 'echo READY; exec sleep 20'` did not start",
                          "make the first step pass first")
        init = running.children()[0]
        sent = time.monotonic()
        os.kill(init, signal.SIGTERM)
        stopped = running.exited_within(3)
        took = time.monotonic() - sent
        code = running.process.returncode
    finally:
        running.stop()
    if not stopped:
        return failed(f"`kill -TERM` to your init (host pid {init}) did nothing in 3 s",
                      "the kernel delivers to a namespace's pid 1 only the signals it has a "
                      "handler for (SIGKILL aside): see pid_namespaces(7)")
    return passed(f"kill -TERM to your init (host pid {init}): the container stopped in "
                  f"{took:.1f} s, exit {code}")


def pitfall(ctx):
    """the pitfall in the catalogue: proc-root (sharing the host's pid namespace)"""
    return ctx.pitfall("proc-root")


STEPS = [runs_a_command, new_pid_namespace, own_proc, reaps_orphans, forwards_sigterm,
         pitfall]


def _observe(ctx, args, ok):
    """Run mini_init.py ARGS, the student's if it answers, else the reference one."""
    ran = _run(ctx, *args) if ctx.has(PROGRAM) else None
    if ran is not None and ok(ran):
        return ran, "your mini_init.py"
    return _run(ctx.reference(), *args), "the reference mini_init.py"


_NO_PROC = """
import os
from minicontainer import namespaces
pid = namespaces.clone(namespaces.Namespace.PID | namespaces.Namespace.MNT)
if pid == 0:
    print(sum(e.isdigit() for e in os.listdir('/proc')), flush=True)
    os._exit(0)
os.waitpid(pid, 0)
"""
_BARE_INIT = """
import os, sys
from minicontainer import namespaces
pid = namespaces.clone(namespaces.Namespace.PID)
if pid == 0:
    os.execvp('sleep', ['sleep', '5'])
print(pid, flush=True)
os.waitpid(pid, 0)
"""


def quiz_answer(question_id, ctx):
    """The right choice of each quiz question, observed now."""
    if question_id == "own-pid":
        ran, whose = _observe(ctx, ["sh", "-c", "echo $$"], lambda r: r.stdout.strip() == "2")
        pid = ran.stdout.strip()
        return ({"1": "A", "2": "B"}.get(pid, "C"), f"{whose}: `sh -c 'echo $$'` printed {pid}")
    if question_id == "host-proc":
        out = subprocess.run([sys.executable, "-c", _NO_PROC], capture_output=True, text=True,
                             timeout=10).stdout.strip()
        host = _host_processes()
        choice = "B" if int(out) > host / 2 else "A"
        return choice, f"a new pid namespace without a fresh /proc lists {out} (host: {host})"
    if question_id == "sigterm":
        process = subprocess.Popen([sys.executable, "-c", _BARE_INIT], stdout=subprocess.PIPE,
                                   text=True)
        init = int(process.stdout.readline())
        try:
            os.kill(init, signal.SIGTERM)
            time.sleep(0.5)
            alive = process.poll() is None
        finally:
            if process.poll() is None:
                os.kill(init, signal.SIGKILL)
            process.wait()
            process.stdout.close()
        return ("B" if alive else "A",
                f"`sleep` as pid 1, SIGTERM from the host: {'still running' if alive else 'died'}")
    if question_id == "orphan-parent":
        ran, whose = _observe(ctx, [sys.executable, "-c", ORPHAN.replace("time.sleep(20)",
                                                                           "time.sleep(0.6)")],
                              lambda r: "ORPHAN PPID 1" in r.stdout)
        parent = next((line.split()[-1] for line in ran.stdout.splitlines()
                       if line.startswith("ORPHAN PPID")), "?")
        return ("B" if parent == "1" else "A",
                f"{whose}: the orphan's getppid() is {parent}")
    return None
