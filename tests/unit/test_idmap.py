"""The host id block allocator of --userns-range auto: no container, no root."""

from __future__ import annotations

import json
import os

from minicontainer import idmap
from minicontainer.state import process_start_time

SHARED_END = max(r.host_id + r.size for r in (idmap.shared_range("uid"),
                                              idmap.shared_range("gid")))


def _me() -> tuple[int, int | None]:
    return os.getpid(), process_start_time(os.getpid())


def _dead_pid() -> int:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def test_blocks_are_distinct_and_follow_the_shared_range(tmp_path):
    ranges = idmap.RangeAllocator(str(tmp_path))
    first = ranges.allocate("a", *_me())
    second = ranges.allocate("b", *_me())
    assert first == SHARED_END and second == first + idmap.BLOCK_SIZE
    assert sorted(ranges.blocks()) == [first, second]
    assert ranges.held_by("a") == [f"host id block {first}"]


def test_blocks_skip_every_subuid_and_subgid_range_whoever_owns_it(tmp_path):
    block = idmap.BLOCK_SIZE
    subuid, subgid = tmp_path / "subuid", tmp_path / "subgid"
    subuid.write_text(f"alice:{SHARED_END + 10}:{block}\n# a comment\nbad line\n")
    subgid.write_text(f"bob:{SHARED_END + 3 * block + block - 1}:1\n")
    ranges = idmap.RangeAllocator(str(tmp_path / "state"), (str(subuid), str(subgid)))
    first = ranges.allocate("a", *_me())
    second = ranges.allocate("b", *_me())
    assert (first, second) == (SHARED_END + 2 * block, SHARED_END + 4 * block)


def test_released_blocks_are_reused_and_the_file_goes_with_the_last(tmp_path):
    ranges = idmap.RangeAllocator(str(tmp_path))
    first = ranges.allocate("a", *_me())
    ranges.allocate("b", *_me())
    ranges.release("a")
    assert ranges.allocate("c", *_me()) == first
    ranges.release("b")
    ranges.release("c")
    assert not os.path.exists(ranges.path)


def test_release_of_one_block_leaves_the_same_name_elsewhere(tmp_path):
    ranges = idmap.RangeAllocator(str(tmp_path))
    kept = ranges.allocate("a", *_me())
    extra = ranges.allocate("a", *_me())
    ranges.release("a", extra)
    assert list(ranges.blocks()) == [kept]


def test_a_dead_owners_block_is_reclaimed(tmp_path):
    ranges = idmap.RangeAllocator(str(tmp_path))
    first = ranges.allocate("crashed", _dead_pid(), 1)
    assert ranges.allocate("next", *_me()) == first
    assert [o["id"] for o in ranges.blocks().values()] == ["next"]


def test_a_block_some_process_still_runs_in_is_kept(tmp_path):
    """Block 0 holds uid 0, which this test runs as: it must not be reclaimed."""
    ranges = idmap.RangeAllocator(str(tmp_path))
    with open(ranges.path, "w") as f:
        json.dump({"blocks": {str(os.getuid() // idmap.BLOCK_SIZE * idmap.BLOCK_SIZE):
                              {"id": "busy", "pid": _dead_pid(), "startTime": 1}}}, f)
    ranges.reclaim()
    assert [o["id"] for o in ranges.blocks().values()] == ["busy"]


def test_adopt_moves_the_owner(tmp_path):
    ranges = idmap.RangeAllocator(str(tmp_path))
    first = ranges.allocate("a", _dead_pid(), 1)
    ranges.adopt("a", *_me())
    ranges.reclaim()
    assert ranges.blocks()[first]["pid"] == os.getpid()
