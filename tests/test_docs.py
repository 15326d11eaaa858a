"""The README and the docs say what is true: their Python runs, the tests they cite exist, their links resolve."""

import ast
import functools
import re
from pathlib import Path

import pytest

from mmsent.fusion import FUSIONS

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").rglob("*.md")), ROOT / "tests" / "claims.md"]


def python_blocks(path):
    return re.findall(r"^```python\n(.*?)^```$", path.read_text(encoding="utf-8"), flags=re.S | re.M)


# multitask needs per-modality label columns, which the README's example does not name (it refuses, saying so).
@pytest.mark.parametrize("fusion", [fusion for fusion in FUSIONS if fusion != "multitask"])
def test_the_readme_python_example_runs_for_every_fusion(fusion, tmp_path, monkeypatch):
    (code,) = python_blocks(README)
    assert 'fusion="stack"' in code
    monkeypatch.chdir(tmp_path)  # it saves model.joblib
    namespace = {}
    exec(compile(code.replace('fusion="stack"', f'fusion="{fusion}"'), str(README), "exec"), namespace)
    clf, test = namespace["clf"], namespace["test"]
    assert clf.fusion == fusion and (tmp_path / "model.joblib").is_file()
    assert clf.predict_proba(test).shape == (len(test), 2)  # the loaded model, as the example leaves it


def test_the_readme_is_short():
    assert len(README.read_text(encoding="utf-8").split()) < 1000, "the rest belongs in docs/"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_test_a_page_cites_exists(page):
    """``group/test_x.py::test_y[id]`` (a path under ``tests/``) must name a test function and a parameter id of it;
    so must a bare `[id]` cited on the same line (the table's shorthand for another case of the test before it)."""
    for line in page.read_text(encoding="utf-8").splitlines():
        cited = re.findall(r"`((?:\w+/)*test_\w+\.py)::(test_\w+)(?:\[([^\]]+)\])?`", line)
        sources = {file: (ROOT / "tests" / file).read_text(encoding="utf-8") for file, _, _ in cited}
        for file, name, _ in cited:
            assert re.search(rf"^def {name}\(", sources[file], flags=re.M), f"{page.name} cites {file}::{name}"
        cases = [case for _, _, case in cited if case] + re.findall(r"`\[([^\]]+)\]`", line)
        for case in cases:
            assert any(f'"{case}"' in source for source in sources.values()), f"{page.name} cites a case [{case}]"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_of_a_page_resolves(page):
    text = page.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#:\s]+)(?:#[^)]*)?\)", text)
    targets += re.findall(r"```\{include\} (\S+)", text)
    for target in targets:
        assert (page.parent / target).exists(), f"{page.name} links to {target}"


# The layers of docs/api.rst, top first: a module may import from its own layer and the ones before it.
LAYERS = [
    {"__init__", "_validation", "_files", "_lazy", "_packages", "_progress"},
    {"text", "image"},
    {"fusion"},
    {"_classifier", "retrieval"},
    {"evaluation", "datasets", "scale", "_persistence", "_card"},
    {"cli", "__main__"},
]


def layer(part):
    """The layer of ``mmsent/<part>`` (a module or a subpackage, named without ``.py``)."""
    found = [i for i, names in enumerate(LAYERS) if part in names]
    assert found, f"mmsent/{part} is in no layer: add it to LAYERS here and to the list in docs/api.rst"
    return found[0]


def imported_parts(path):
    """The top-level parts of mmsent (``text``, ``_classifier``, ...) that the module at ``path`` imports."""
    package = path.parent.relative_to(ROOT).parts  # ("mmsent", ...)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else ()
            names = [".".join([*base, node.module or ""]).strip(".")]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "mmsent":
                yield parts[1] if len(parts) > 1 else "__init__"


def test_no_module_imports_from_a_layer_below_its_own():
    for path in sorted((ROOT / "mmsent").rglob("*.py")):
        own = path.relative_to(ROOT / "mmsent").with_suffix("").parts[0]
        for part in imported_parts(path):
            assert layer(part) <= layer(own), f"{path.relative_to(ROOT)} imports mmsent.{part}, a layer below"


# Versions and thresholds are in backticks. Not checked: the mutation record, made by hand from mutmut's runs
# (docs/mutation.md says so), and tests/claims.md, which names figures that were removed for lack of a result.
UNMEASURED = {"mutation.md", "claims.md"}


@functools.cache
def _measured():
    """Every decimal figure of the benchmarks' results tables."""
    results = " ".join(path.read_text(encoding="utf-8") for path in (ROOT / "benchmarks" / "results").glob("*.md"))
    return frozenset(re.findall(r"\d[\d,]*\.\d+", results))


def _decimals(text):
    """The decimal figures of a Markdown text, outside code (blocks and spans)."""
    text = re.sub(r"`[^`\n]*`", "", re.sub(r"^```.*?^```$", "", text, flags=re.S | re.M))
    return re.findall(r"(?<![\w.])\d[\d,]*\.\d+(?![\w.])", text)


@pytest.mark.parametrize(
    "page",
    [page for page in PAGES if "results" not in page.parts and page.name not in UNMEASURED],
    ids=lambda page: str(page.relative_to(ROOT)),
)
def test_every_figure_is_quoted_from_the_results(page):
    """A decimal figure in the README or the docs is one a benchmark wrote into benchmarks/results/."""
    retyped = [figure for figure in _decimals(page.read_text(encoding="utf-8")) if figure not in _measured()]
    assert not retyped, f"{page.name}: {retyped} appear in no benchmarks/results/*.md (quote them, do not retype)"
