"""Atomic writes and output-path checks (mmsent._files)."""

import os

import pytest

from mmsent._files import atomic_write, check_output_path


def test_atomic_write_leaves_the_previous_file_when_writing_fails(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("previous")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_write(target, "w") as file:
            file.write("half of the new")
            raise RuntimeError("disk full")
    assert target.read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]  # no temporary file left


def test_atomic_write_creates_the_folder_and_usual_permissions(tmp_path):
    target = tmp_path / "new" / "model.bin"
    with atomic_write(target) as file:
        file.write(b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize("special", ["/dev/null", "fifo", "directory"])
def test_special_files_are_refused(tmp_path, special):
    if special == "fifo":
        special = tmp_path / "pipe"
        os.mkfifo(special)
    elif special == "directory":
        special = tmp_path
    with pytest.raises(ValueError, match="not a regular file"):
        with atomic_write(special) as file:
            file.write(b"x")
    assert not os.path.isfile(special)


def test_an_input_of_the_same_command_is_refused_under_any_name(tmp_path):
    data = tmp_path / "train.csv"
    data.write_text("text,label\n")
    link = tmp_path / "link.csv"
    link.symlink_to(data)
    for name in (data, link, tmp_path / "." / "train.csv"):
        with pytest.raises(ValueError, match="also an input"):
            check_output_path(name, inputs=[data])
    assert data.read_text() == "text,label\n"
    assert check_output_path(tmp_path / "other.csv", inputs=[data]) == tmp_path / "other.csv"
