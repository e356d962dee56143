"""Lab 12's fixtures and the host files its checker touches: made once, owned by the
container's root, and never written through a symlink the container made."""

from __future__ import annotations

import os

from minicontainer import idmap, labs


def _checker():
    return labs.Lab(os.path.join(labs.labs_root(), "12-privileged")).checker()


def test_prepare_makes_the_volumes_once_and_gives_data_to_the_container_root(tmp_path):
    checker = _checker()
    made = checker.prepare(str(tmp_path))
    assert len(made) == 2
    assert (tmp_path / "site" / "index.html").read_text() == "it works\n"
    data = (tmp_path / "data").stat()
    assert (data.st_uid, data.st_gid) == (idmap.default_mappings("uid")[0].host_id,
                                          idmap.default_mappings("gid")[0].host_id)
    (tmp_path / "site" / "index.html").write_text("mine\n")
    assert checker.prepare(str(tmp_path)) == []
    assert (tmp_path / "site" / "index.html").read_text() == "mine\n"


def test_the_page_and_the_log_never_follow_a_symlink(tmp_path):
    checker = _checker()
    checker.prepare(str(tmp_path))
    outside = tmp_path / "outside"
    outside.write_text("host file\n")
    page = tmp_path / "site" / "index.html"
    page.unlink()
    page.symlink_to(outside)
    checker._write_page(str(tmp_path), "nonce\n")
    assert outside.read_text() == "host file\n"
    assert not page.is_symlink() and page.read_text() == "nonce\n"
    (tmp_path / "data" / "served.log").symlink_to(outside)
    assert checker._log(str(tmp_path)) == ""
    checker._log(str(tmp_path), remove=True)
    assert outside.exists() and not (tmp_path / "data" / "served.log").is_symlink()


def test_data_is_the_container_roots_again_after_lab_start_gave_the_workspace_away(tmp_path):
    lab = labs.Lab(os.path.join(labs.labs_root(), "12-privileged"))
    student = labs.Student("nobody", 65534, 65534, str(tmp_path))
    workspace = tmp_path / lab.slug
    labs.start(lab, student, str(workspace))
    assert (workspace / "data").stat().st_uid == 65534  # what `lab start` leaves
    made = _checker().prepare(str(workspace))
    assert len(made) == 1 and "given back" in made[0]
    data = (workspace / "data").stat()
    assert (data.st_uid, data.st_gid) == (idmap.default_mappings("uid")[0].host_id,
                                          idmap.default_mappings("gid")[0].host_id)
    assert _checker().prepare(str(workspace)) == []
