"""Atomic writes: a file or folder appears whole or not at all, and nothing is overwritten
that should not be."""

from __future__ import annotations

import json
import os
import stat

import pytest

from c2am_bench.atomic import fill_dir, write_file, write_json, write_path, write_text
from c2am_bench.errors import ConfigError


def test_files_appear_whole_readable_and_without_temp_files(tmp_path):
    out = write_json(tmp_path / "sub" / "m.json", {"a": 1, "p": tmp_path})
    assert json.loads(out.read_text()) == {"a": 1, "p": str(tmp_path)}
    assert out.read_text().endswith("}\n")
    write_text(out, "replaced\n")
    assert out.read_text() == "replaced\n"
    write_file(tmp_path / "b.bin", lambda f: f.write(b"\x00\x01"))
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert stat.S_IMODE(os.stat(tmp_path / "b.bin").st_mode) == 0o644  # not mkstemp's 0600
    assert sorted(p.name for p in tmp_path.rglob(".*")) == []


def test_the_temp_name_ends_like_the_target_for_writers_that_choose_by_suffix(tmp_path):
    from mmengine.config import Config

    seen = []
    write_path(tmp_path / "config.py", lambda tmp: seen.append(tmp.name) or tmp.write_text(""))
    assert seen[0].endswith(".py")
    cfg = Config(dict(a=1, b=dict(c="x")))
    out = write_path(tmp_path / "dumped.py", lambda tmp: cfg.dump(str(tmp)))
    assert Config.fromfile(str(out)).to_dict() == {"a": 1, "b": {"c": "x"}}


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    out = write_text(tmp_path / "m.txt", "old")

    def half(tmp):
        tmp.write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        write_path(out, half)
    assert out.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["m.txt"]


def test_an_unwritable_folder_is_one_error_naming_the_file(tmp_path):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("")
    with pytest.raises(ConfigError, match=f"{blocker}/m.json: cannot write"):
        write_json(blocker / "m.json", {})


def test_fill_dir_renames_a_full_folder_and_never_overwrites(tmp_path):
    final = fill_dir(tmp_path / "maps", lambda tmp: (tmp / "a.png").write_bytes(b"x"))
    assert [p.name for p in final.iterdir()] == ["a.png"]
    with pytest.raises(ConfigError, match="maps: already exists"):
        fill_dir(final, lambda tmp: None)

    def racing(tmp):  # another process makes the folder while this one fills its own
        (tmp_path / "late").mkdir()

    with pytest.raises(ConfigError, match="late: appeared while the labels were being made"):
        fill_dir(tmp_path / "late", racing, what="labels")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["late", "maps"]  # no temp left

    def failing(tmp):
        (tmp / "half.png").write_bytes(b"x")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fill_dir(tmp_path / "never", failing)
    assert not (tmp_path / "never").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["late", "maps"]
