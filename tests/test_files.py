"""Safe output names from untrusted titles, atomic writes, per-job work dirs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tubesum.errors import OutputDirError
from tubesum.files import ensure_writable_dir, job_workdir, safe_stem, write_atomic


@pytest.mark.parametrize(
    ("title", "video_id", "expected"),
    [
        ("My Talk: Part 1/2", "dQw4w9WgXcQ", "My-Talk-Part-1-2-dQw4w9WgXcQ"),
        ("../../etc/passwd", None, "etc-passwd"),
        ("..", None, "transcript"),
        ("", "abc_DEF-123", "abc_DEF-123"),
        ("CON", None, "transcript"),
        ("a\x00b\u202ec", None, "abc"),
        ("Ünïcödé 日本語", None, "Ünïcödé-日本語"),
        ("x" * 300, None, "x" * 80),
        ("C:\\Windows\\evil", None, "C-Windows-evil"),
    ],
)
def test_safe_stem(title: str, video_id: str | None, expected: str) -> None:
    stem = safe_stem(title, video_id=video_id)
    assert stem == expected
    assert "/" not in stem and "\\" not in stem and not stem.startswith(".")


def test_write_atomic_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = write_atomic(tmp_path / "a.txt", b"hello")
    assert target.read_bytes() == b"hello"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


@pytest.mark.skipif(os.geteuid() == 0 and not Path("/proc/self").exists(), reason="needs /proc")
def test_unwritable_output_dir_is_reported(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where a directory should be")
    with pytest.raises(OutputDirError) as excinfo:
        ensure_writable_dir(blocker / "out")
    assert excinfo.value.code == "output_unwritable"


def test_job_workdir_is_removed_after_success_and_error(tmp_path: Path) -> None:
    with job_workdir(tmp_path) as first:
        (first / "audio.webm").write_bytes(b"x")
    assert not first.exists()
    with pytest.raises(RuntimeError), job_workdir(tmp_path) as second:
        raise RuntimeError("boom")
    assert not second.exists()
    with pytest.raises(KeyboardInterrupt), job_workdir(tmp_path) as third:
        raise KeyboardInterrupt
    assert not third.exists()
    assert list(tmp_path.iterdir()) == []
