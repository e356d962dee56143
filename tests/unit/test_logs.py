"""The bounded log of a detached container: relay with rotation, and reading it back."""

from __future__ import annotations

import os
import threading

from minicontainer import logs


def _relay(tmp_path, data: bytes, max_size: int) -> str:
    path = str(tmp_path / "output.log")
    r, w = os.pipe()
    worker = threading.Thread(target=logs.relay, args=(r, logs.open_log(path), path, max_size))
    worker.start()
    view = memoryview(data)
    while view:
        view = view[os.write(w, view[:4096]):]
    os.close(w)
    worker.join(10)
    assert not worker.is_alive()
    return path


def _read(path: str, tmp_path) -> bytes:
    out = tmp_path / "copied"
    with open(out, "wb") as f:
        logs.copy(path, f.fileno(), follow=False, still_running=lambda: False)
    return out.read_bytes()


def test_a_log_under_the_limit_is_kept_whole(tmp_path):
    path = _relay(tmp_path, b"one\ntwo\n", 1024)
    assert open(path, "rb").read() == b"one\ntwo\n"
    assert not os.path.exists(logs.rotated(path))


def test_a_log_that_reaches_the_limit_rotates_and_stays_bounded(tmp_path):
    lines = b"".join(b"line %d\n" % i for i in range(10000))
    path = _relay(tmp_path, lines, 4096)
    current, old = os.path.getsize(path), os.path.getsize(logs.rotated(path))
    assert current <= 4096 and old <= 4096
    assert not os.path.exists(f"{path}.2")
    kept = _read(path, tmp_path)
    assert lines.endswith(kept)  # the newest part, in order, nothing in between lost
    assert len(kept) == current + old
    assert kept.startswith(b"line ") and kept.endswith(b"line 9999\n")  # cut at lines


def test_a_line_longer_than_the_limit_is_cut_not_lost_in_a_loop(tmp_path):
    path = _relay(tmp_path, b"x" * 10000 + b"\n", 1000)
    assert os.path.getsize(path) <= 1000 and os.path.getsize(logs.rotated(path)) == 1000


def test_follow_keeps_reading_across_a_rotation(tmp_path):
    path = str(tmp_path / "output.log")
    r, w = os.pipe()
    relay = threading.Thread(target=logs.relay, args=(r, logs.open_log(path), path, 64))
    relay.start()
    done = threading.Event()
    out_r, out_w = os.pipe()
    follower = threading.Thread(target=logs.copy,
                                args=(path, out_w, True, lambda: not done.is_set()))
    follower.start()
    sent = b"".join(b"%02d\n" % i for i in range(30))  # 90 bytes: one rotation at 64
    for i in range(0, len(sent), 3):
        os.write(w, sent[i:i + 3])
    os.close(w)
    relay.join(10)
    done.set()
    follower.join(10)
    os.close(out_w)
    received = b""
    while chunk := os.read(out_r, 4096):
        received += chunk
    os.close(out_r)
    assert received == sent


def test_reading_in_the_middle_of_a_rotation_waits_for_the_new_file(tmp_path):
    path = str(tmp_path / "output.log")
    with open(logs.rotated(path), "wb") as f:
        f.write(b"old\n")
    # The moment between renaming output.log away and creating the new one.
    creator = threading.Timer(0.1, lambda: open(path, "wb").write(b"new\n"))
    creator.start()
    try:
        assert _read(path, tmp_path) == b"old\nnew\n"
    finally:
        creator.join()
