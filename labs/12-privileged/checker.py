"""Checks of lab 12: the student's config.json, judged by `audit`, by its workload's
output, and by what mc-probe sees inside a container made from it.

The config runs through the lab's reference ``serve.py`` (the launcher the student
also uses), so that a broken launcher in the workspace cannot hide a good config.
The host files the checker touches (``site/index.html``, ``data/served.log``) are
opened beneath a directory fd with ``O_NOFOLLOW``: the container may have made them
symlinks.
"""

import json
import os
import stat
import subprocess
import sys

from minicontainer import idmap
from minicontainer.config import DEFAULT_CAPABILITIES
from minicontainer.labs import failed, passed

PROGRAM = "serve.py"
CONFIG = "config.json"
# What --privileged --userns host gives: the weak config of the exercise, in flags.
PRIVILEGED = ["--privileged", "--userns", "host"]
# Where each audit check lives in config.json (audit's own fixes are `run` flags).
FIELDS = {
    "privileged": "process.capabilities.bounding lists every capability: keep only what "
                  "the command needs",
    "capabilities": "process.capabilities.bounding holds more than Docker's 14 defaults",
    "sensitive-mount": "an entry of mounts brings a host system directory in: does the "
                       "workload read it?",
    "socket-mount": "an entry of mounts brings a host socket in",
    "host-devices": "linux.resources.devices allows 'a' (all devices) rwm",
    "seccomp": "linux.seccomp is missing: {\"profile\": \"minicontainer default\"} loads the "
               "default allowlist",
    "no-new-privileges": "process.noNewPrivileges",
    "host-user": "linux.namespaces needs a user entry, with linux.uidMappings and "
                 "gidMappings to an unprivileged host range",
    "masked-paths": "linux.maskedPaths is empty: list the paths the evidence names",
    "readonly-paths": "linux.readonlyPaths is empty: list the paths the evidence names",
    "sysfs-writable": "/sys is mounted read-write",
    "memory-limit": "linux.resources.memory.limit (bytes)",
    "pids-limit": "linux.resources.pids.limit",
    "cpu-limit": "linux.resources.cpu.quota with its period",
    "readonly-root": "root.readonly; the workload's writes then need a volume",
    "mount-propagation": "linux.rootfsPropagation",
    "root-mode": "the annotation minicontainer.rootMode",
    "fd-hygiene": "the annotation minicontainer.closeFds",
    "new-session": "the annotation minicontainer.newSession",
}
for _check in ("host-network", "host-pid", "host-ipc", "host-uts", "host-cgroup"):
    FIELDS[_check] = "linux.namespaces lacks that namespace's entry"


def _container_root() -> tuple[int, int]:
    """The host uid and gid of a default container's root."""
    return (idmap.default_mappings("uid")[0].host_id, idmap.default_mappings("gid")[0].host_id)


def prepare(workspace: str) -> list[str]:
    """The volumes of the workload: ``site/`` (the pages) and ``data/`` (its log,
    writable by the container's root)."""
    made = []
    site, data = os.path.join(workspace, "site"), os.path.join(workspace, "data")
    if not os.path.isdir(site):
        os.mkdir(site, 0o755)
        _write_page(workspace, "it works\n")
        made.append(f"{site}/index.html: the page the workload serves")
    if not os.path.isdir(data):
        os.mkdir(data, 0o755)
        os.chown(data, *_container_root())
        made.append(f"{data}: where the workload logs, owned by the container's root "
                    f"(host uid {_container_root()[0]})")
        return made
    st = os.lstat(data)
    # `lab start` gives the whole workspace to the student after this fixture is made:
    # the container's root could not write its log in a data/ of the student's.
    if stat.S_ISDIR(st.st_mode) and (st.st_uid, st.st_gid) != _container_root():
        os.lchown(data, *_container_root())
        made.append(f"{data}: given back to the container's root (host uid "
                    f"{_container_root()[0]}), which writes the log")
    return made


def _in_dir(workspace: str, name: str) -> int:
    return os.open(os.path.join(workspace, name), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)


def _write_page(workspace: str, text: str) -> None:
    site = _in_dir(workspace, "site")
    try:
        try:
            os.unlink("index.html", dir_fd=site)
        except FileNotFoundError:
            pass
        fd = os.open("index.html", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                     0o644, dir_fd=site)
        os.write(fd, text.encode())
        os.fchmod(fd, 0o644)
        os.close(fd)
    finally:
        os.close(site)


def _log(workspace: str, remove: bool = False) -> str:
    """``data/served.log`` (empty if missing); with ``remove``, delete it."""
    data = _in_dir(workspace, "data")
    try:
        if remove:
            try:
                os.unlink("served.log", dir_fd=data)
            except FileNotFoundError:
                pass
            return ""
        try:
            fd = os.open("served.log", os.O_RDONLY | os.O_NOFOLLOW, dir_fd=data)
        except (FileNotFoundError, OSError):
            return ""
        try:
            return os.read(fd, 65536).decode(errors="replace")
        finally:
            os.close(fd)
    finally:
        os.close(data)


def _serve(ctx, config: str, *command: str, timeout: float = 15.0):
    """Run ``config`` through the reference serve.py (with ``command`` instead of its own)."""
    launcher = ctx.lab.file("solution", PROGRAM)
    return subprocess.run([sys.executable, launcher, "--config", config, *command],
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def _audit(path: str):
    from minicontainer import audit

    return audit.audit_config_file(path)


def _shares_host_network(path: str) -> bool:
    with open(path) as f:
        kinds = [n.get("type") for n in json.load(f).get("linux", {}).get("namespaces", [])]
    return "network" not in kinds


def audit_clean(ctx):
    """`minicontainer audit --config config.json` finds nothing"""
    from minicontainer.config import ConfigError

    try:
        report = _audit(ctx.program(CONFIG))
    except (ConfigError, KeyError, TypeError) as e:
        return failed(f"config.json does not load: {e}",
                      "run `minicontainer audit --config config.json` and fix the field it names")
    if not report.findings:
        return passed("`minicontainer audit --config config.json`: 0 findings")
    lines = [f"{len(report.findings)} findings remain:"]
    for f in report.findings:
        lines.append(f"  {f.severity} {f.check} ({f.cis or 'no CIS id'}): {f.title}; "
                     f"{f.evidence}. In config.json: {FIELDS.get(f.check, f.remediation)}")
    first = report.findings[0]
    return failed("\n".join(lines), f"start with {first.check}: "
                  f"{FIELDS.get(first.check, first.remediation)} (audit's fix, in run flags: "
                  f"{first.remediation})")


def does_its_job(ctx):
    """the hardened container still serves its page and writes its log"""
    config = ctx.program(CONFIG)
    if _shares_host_network(config):
        return failed("config.json shares the host's network namespace: the checker does not "
                      "start a web server on the host's own ports",
                      "give the container a network namespace of its own (make the audit "
                      "step's host-network finding go first)")
    page = f"served-{ctx.nonce}"
    _write_page(ctx.workspace, page + "\n")
    _log(ctx.workspace, remove=True)
    ran = _serve(ctx, config)
    log = _log(ctx.workspace)
    said = (ran.stderr.strip().splitlines() or [""])
    errors = [line for line in said if not line.startswith("serve.py: this host has no")]
    if page not in ran.stdout:
        why = errors[-1] if errors else f"exit {ran.returncode}, nothing printed"
        if "bind" in why and "Permission denied" in why:
            hint = ("httpd binds port 80, below 1024: that takes CAP_NET_BIND_SERVICE, "
                    "which your bounding set no longer holds")
        elif "No such file" in why or "Read-only" in why:
            hint = ("the workload writes its log to /data: with a read-only root it needs "
                    "a writable volume there (the data directory of the workspace)")
        else:
            hint = "run `sudo minicontainer lab run 12` and read what the workload says"
        return failed(f"the page ({page}) did not come back: {why}", hint)
    if page not in log:
        return failed(f"the page came back but data/served.log holds {log.strip()[:60]!r}",
                      "the workload writes its log to /data: keep the data directory "
                      "mounted there, read-write")
    note = ("; " + said[0][len("serve.py: "):]) if said[0].startswith("serve.py: this host") \
        else ""
    return passed(f"httpd served {page} and data/served.log holds it{note}")


def _caps(seen: dict) -> set[str]:
    return {f"CAP_{name.upper()}" for name in seen["capabilities"]["bounding"]}


def _weak_points(seen: dict) -> dict[str, str]:
    """What of --privileged a probe report still shows, by layer."""
    weak = {}
    extra = sorted(_caps(seen) - DEFAULT_CAPABILITIES)
    if extra:
        weak["capabilities"] = f"{len(extra)} beyond the defaults ({', '.join(extra[:4])}...)"
    if seen["seccomp"] != "filter":
        weak["seccomp"] = f"seccomp {seen['seccomp']}"
    if not seen["no_new_privs"]:
        weak["no_new_privs"] = "no_new_privs off"
    visible = [p for p, s in seen["masked_paths"].items() if s["state"] == "visible"]
    if visible:
        weak["masked paths"] = f"{', '.join(visible)} visible"
    writable = [p for p, s in seen["readonly_paths"].items() if s["writable"]]
    if writable:
        weak["read-only paths"] = f"{', '.join(writable)} writable"
    if seen["syscalls"]["mknod(block device)"]["result"] == "ok":
        weak["devices"] = "mknod of a block device works"
    if any(m[0] == 0 and m[1] == 0 for m in seen["uid_map"]):
        weak["user ns"] = "uid 0 is host uid 0"
    return weak


def not_privileged_inside(ctx):
    """inside, mc-probe no longer sees what --privileged gives"""
    config = ctx.program(CONFIG)
    if _shares_host_network(config):
        return failed("config.json shares the host's network namespace",
                      "make the step before pass first")
    ran = _serve(ctx, config, "mc-probe", "--json")
    try:
        yours = json.loads(ran.stdout)
    except ValueError:
        return failed(f"mc-probe did not run in your config: exit {ran.returncode}: "
                      f"{(ran.stderr.strip().splitlines() or [''])[-1]}",
                      "make the step before pass first")
    privileged = ctx.probe(*PRIVILEGED)
    given = _weak_points(privileged)
    left = _weak_points(yours)
    summary = (f"--privileged --userns host gives: {len(_caps(privileged))} capabilities; "
               + "; ".join(v for k, v in given.items() if k != "capabilities"))
    if left:
        return failed(f"inside your container: {'; '.join(left.values())}\n({summary})",
                      f"the {next(iter(left))} layer is still as --privileged left it: what "
                      "does config.json say for it?")
    return passed(f"yours: capabilities {', '.join(sorted(_caps(yours))) or 'none'}, seccomp "
                  f"{yours['seccomp']}, no_new_privs on, masked and read-only paths in place, "
                  f"root is host uid {yours['uid_map'][0][1]}\n({summary})")


def pitfall_host_disk(ctx):
    """the pitfall: --privileged mounts the host's disk (host-disk-mount)"""
    return ctx.pitfall("host-disk-mount")


def pitfall_cgroupfs(ctx):
    """the pitfall: --privileged rewrites its own limits (writable-cgroupfs)"""
    return ctx.pitfall("writable-cgroupfs")


STEPS = [audit_clean, does_its_job, not_privileged_inside, pitfall_host_disk,
         pitfall_cgroupfs]


def _reference_config(ctx) -> dict:
    with open(ctx.lab.file("solution", CONFIG)) as f:
        return json.load(f)


def quiz_answer(question_id, ctx):
    """The right choice of each quiz question, observed now."""
    if question_id == "privileged-caps":
        count = len(_caps(ctx.probe("--privileged")))
        return ("A" if count > len(DEFAULT_CAPABILITIES) else "B" if count else "C",
                f"mc-probe under --privileged: {count} capabilities in the bounding set")
    if question_id == "privileged-root":
        uid_map = ctx.probe("--privileged")["uid_map"]
        host = uid_map[0][1] if uid_map else 0
        return ("A" if host == 0 else "B",
                f"mc-probe under --privileged: uid_map {uid_map}: container root is host "
                f"uid {host}")
    if question_id == "privileged-seccomp":
        mode = ctx.probe("--privileged")["seccomp"]
        return ("A" if mode == "filter" else "B", f"mc-probe under --privileged: seccomp {mode}")
    if question_id == "no-capabilities":
        import tempfile

        doc = _reference_config(ctx)
        doc["process"]["capabilities"]["bounding"] = []
        with tempfile.TemporaryDirectory(prefix="mc-lab12-quiz-") as bundle:
            os.chmod(bundle, 0o755)
            prepare(bundle)
            page = f"quiz-{ctx.nonce}"
            _write_page(bundle, page + "\n")
            path = os.path.join(bundle, CONFIG)
            with open(path, "w") as f:
                json.dump(doc, f)
            ran = _serve(ctx, path)
        served = page in ran.stdout
        last = [line for line in ran.stderr.splitlines() if "httpd" in line][-1:]
        seen = "the page came back" if served else f"no page ({', '.join(last) or 'no output'})"
        return ("A" if served else "B", f"the reference config with an empty bounding set: {seen}")
    return None
