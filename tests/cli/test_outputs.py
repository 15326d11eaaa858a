"""Every file a command writes: atomic, never over a special file, never over one of the command's inputs."""

import errno
import functools
import os
import stat
from pathlib import Path

import pytest

import mmsent.datasets
import mmsent.image
from mmsent import _persistence
from mmsent._files import atomic_write
from mmsent.cli import _common, _evaluate, main
from mmsent.evaluation import _ablation
from mmsent.scale import _stream

from .conftest import COLUMNS, LABEL


@pytest.fixture
def no_work(monkeypatch):
    """Reading data, loading a model, building the demo or exporting the CNN fails the test: outputs come first."""

    def refusing(function):
        @functools.wraps(function)  # its signature stays readable: the commands read their defaults there
        def work(*args, **kwargs):
            raise AssertionError("work began before the outputs were checked")

        return work

    for module, name in ((mmsent.datasets, "read_manifest"), (mmsent.datasets, "load_mvsa"),
                         (mmsent.datasets, "write_demo"), (_persistence, "load_model"), (mmsent.image, "export_cnn")):
        monkeypatch.setattr(module, name, refusing(getattr(module, name)))


def _fifo(path):
    os.mkfifo(path)
    return path


# (command line, the output it names, the message); {train}, {test}, {model}, {dir} are filled in.
REFUSED = [
    ("train --data {train} --out /dev/null", "/dev/null", "is not a regular file (a character device)"),
    ("train --data {train} --out {fifo}", "{fifo}", "is not a regular file (a FIFO)"),
    ("train --data {train} --out {train}", "{train}", "is also an input of this command"),
    ("train --data {train} --test {test} --out {test}", "{test}", "is also an input of this command"),
    ("train --data {train} --out {dir}/m.joblib", "{dir}/m.joblib.md", "is not a regular file (a FIFO)"),
    ("predict --model {model} --data {test} --out /dev/null", "/dev/null", "is not a regular file"),
    ("predict --model {model} --data {test} --out {test}", "{test}", "is also an input of this command"),
    ("predict --model {model} --data {test} --out {model}", "{model}", "is also an input of this command"),
    ("evaluate --train {train} --cv 2 --json {train}", "{train}", "is also an input of this command"),
    ("evaluate --train {train} --cv 2 --json /dev/null", "/dev/null", "is not a regular file"),
    ("evaluate --train {train} --cv 2 --plots {dir}", "{dir}/ablation.png", "is not a regular file (a FIFO)"),
    ("tune --train {train} --dev {test} --out {test}", "{test}", "is also an input of this command"),
    ("tune --train {train} --cv 2 --out {fifo}", "{fifo}", "is not a regular file (a FIFO)"),
    ("demo --out /dev/null", "/dev/null", "is not a regular file"),
    ("export-cnn --out /dev/null", "/dev/null", "is not a regular file"),
]


@pytest.mark.parametrize("command, output, message", REFUSED, ids=[case[0].split(" --")[0] + str(i)
                                                                    for i, case in enumerate(REFUSED)])
def test_an_output_over_a_special_file_or_an_input_is_refused_first(
    command, output, message, manifests, trained, tmp_path, no_work, capsys
):
    folder = tmp_path / "out"
    folder.mkdir()
    _fifo(folder / "m.joblib.md")
    _fifo(folder / "ablation.png")
    names = {"train": manifests["train"], "test": manifests["test"], "model": trained, "dir": folder,
             "fifo": _fifo(tmp_path / "fifo")}
    output = Path(output.format(**names))
    before = output.read_bytes() if output.is_file() else None
    mode = output.stat().st_mode
    assert main(command.format(**names).split()) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mmsent {command.split()[0]}: error: {output} ") and message in err
    assert output.stat().st_mode == mode and (before is None or output.read_bytes() == before)


def test_predict_refuses_to_write_over_one_of_its_images(trained, manifests, capsys):
    image = manifests["test"].parent / "imgs" / "test3.png"
    before = image.read_bytes()
    args = ["predict", "--model", str(trained), "--data", str(manifests["test"]), "--out", str(image), "--quiet"]
    assert main(args) == 2
    assert f"{image} is also an input of this command" in capsys.readouterr().err
    assert image.read_bytes() == before


def test_a_failed_write_leaves_the_previous_file(trained, shared_manifests, tmp_path, monkeypatch, capsys):
    """A full disk while predictions are written: the previous file stays whole, no temporary file is left."""
    out = tmp_path / "preds.csv"
    out.write_text("the previous predictions\n")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    args = ["predict", "--model", str(trained), "--data", str(shared_manifests["test"]), "--out", str(out)]
    assert main([*args, "--quiet"]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert out.read_text() == "the previous predictions\n" and os.listdir(tmp_path) == ["preds.csv"]


@pytest.fixture
def writes(monkeypatch):
    """Every file written through atomic_write: ``(path, inputs)``."""
    written = []

    def spy(path, *args, inputs=(), **kwargs):
        inputs = list(inputs)
        written.append((Path(path), {str(path) for path in inputs if path is not None}))
        return atomic_write(path, *args, inputs=inputs, **kwargs)

    for module in (_common, _stream, _evaluate, _ablation):
        monkeypatch.setattr(module, "atomic_write", spy)
    return written


def _images(manifest):
    return {str(path) for path in (manifest.parent / "imgs").glob(f"{manifest.stem}*.png")}


def test_each_output_is_written_atomically_and_knows_every_input(manifests, tmp_path, writes, capsys):
    train, test = manifests["train"], manifests["test"]
    model = tmp_path / "m.joblib"
    assert main(["train", "--data", str(train), "--test", str(test), "--out", str(model), *COLUMNS, *LABEL]) == 0
    assert writes.pop() == (tmp_path / "m.joblib.md", {str(train), str(test)} | _images(train) | _images(test))

    out = tmp_path / "preds.jsonl"
    assert main(["predict", "--model", str(model), "--data", str(test), "--out", str(out), "--quiet"]) == 0
    # Streamed, the images are known chunk by chunk: each chunk's are checked as it is read
    # (test_predict_refuses_to_write_over_one_of_its_images).
    assert writes.pop() == (out, {str(model), str(test)})

    report, plots = tmp_path / "report.json", tmp_path / "plots"
    args = ["evaluate", "--train", str(train), "--test", str(test), "--fusions", "text", "--json", str(report)]
    assert main([*args, "--plots", str(plots), *COLUMNS, *LABEL, "--quiet"]) == 0
    inputs = {str(train), str(test)} | _images(train) | _images(test)
    assert writes == [(report, inputs), (plots / "ablation.png", inputs), (plots / "confusion_matrices.png", inputs)]
    assert stat.S_ISREG(report.stat().st_mode)
