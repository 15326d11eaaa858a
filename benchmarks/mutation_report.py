"""Mutation scores per module, from mutmut's verdicts and the triage record of its survivors.

mutmut (``make mutation``) keeps each mutant's verdict in ``mutants/<module>.meta``; every mutant it did
not see killed (survived, timeout, no test reaching it, ...) was then applied to the source by hand and
judged: killed by a test written for it, equivalent, or surviving, with the test or the reason. Those
judgements are ``benchmarks/mutation_triage.json`` (mutant name -> ``{"verdict", "by"}``). This script
counts both for the modules named and writes their rows into ``results/mutation.{json,md}`` (rows of
other modules are kept), with the commit and the test list of the run:

    python benchmarks/mutation_report.py mutants --commit 4a75701 --tests 'tests/fusion' \\
        mmsent/fusion/_gated.py mmsent/fusion/_missing.py [--sample names.txt]

``--sample`` names a uniform random sample of the mutants that were still unchecked when it was drawn:
its score (of the sample alone) estimates that of the mutants not run.
Score after triage = (killed by the run + killed by a triage test) / (mutants checked - equivalent).
"""

import argparse
import json
import sys
from pathlib import Path

from _common import RESULTS, ROOT, table, write_results
from scipy.stats import binomtest

TRIAGE = ROOT / "benchmarks" / "mutation_triage.json"
KILLED = {"killed", "segfault", "caught by type check"}
VERDICTS = {"killed", "equivalent", "survives"}


def _status(exit_code):
    from mutmut.stats import status_by_exit_code

    return status_by_exit_code[exit_code]


def module_verdicts(mutants, module):
    """``{mutant name: mutmut's status}`` of one module (``mmsent/fusion/_gated.py``) of a ``mutants/`` folder."""
    meta = json.loads((Path(mutants) / f"{module}.meta").read_text(encoding="utf-8"))
    return {name: _status(code) for name, code in meta["exit_code_by_key"].items()}


def _wilson(killed, n):
    """95% Wilson interval of a proportion, in percent (SciPy's)."""
    if n == 0:
        return None
    interval = binomtest(killed, n).proportion_ci(confidence_level=0.95, method="wilson")
    return [round(100 * interval.low, 1), round(100 * interval.high, 1)]


def _natural(name):
    """``x_f__mutmut_9`` before ``x_f__mutmut_10``."""
    stem, _, number = name.rpartition("_")
    return (stem, int(number)) if number.isdigit() else (name, 0)


def score(statuses, triage):
    """Counts of one module (or of a subset of its mutants) and its score after triage."""
    # A mutant mutmut did not reach but that was applied and judged by hand counts as checked.
    checked = {name: status for name, status in statuses.items() if status != "not checked" or name in triage}
    to_triage = sorted((name for name, status in checked.items() if status not in KILLED), key=_natural)
    judged = {name: triage[name]["verdict"] for name in to_triage if name in triage}
    counts = {
        "mutants": len(statuses),
        "checked": len(checked),
        "killed_by_run": len(checked) - len(to_triage),
        "killed_after_triage": sum(verdict == "killed" for verdict in judged.values()),
        "equivalent": sum(verdict == "equivalent" for verdict in judged.values()),
        "surviving": sum(verdict == "survives" for verdict in judged.values()),
        "not_triaged": len(to_triage) - len(judged),
    }
    killed = counts["killed_by_run"] + counts["killed_after_triage"]
    scored = counts["checked"] - counts["equivalent"]
    counts["score"] = round(100 * killed / scored, 1) if scored else None
    counts["interval"] = _wilson(killed, scored)
    return counts, to_triage


def _estimate(row, sample):
    """Score of the whole module: the mutants checked as counted, the others as the sample's (its share of
    equivalent mutants and its score)."""
    unchecked = row["mutants"] - row["checked"]
    if not unchecked or not sample["checked"]:
        return row["score"]
    killed = row["killed_by_run"] + row["killed_after_triage"]
    scored = unchecked * (1 - sample["equivalent"] / sample["checked"])
    return round(100 * (killed + scored * sample["score"] / 100) / (row["checked"] - row["equivalent"] + scored), 1)


def module_row(mutants, module, commit, tests, triage, sample=None):
    statuses = module_verdicts(mutants, module)
    counts, to_triage = score(statuses, triage)
    row = {"module": module, "commit": commit, "tests": tests, **counts}
    row["survivors"] = [
        {
            "mutant": name.split(".")[-1],
            "mutmut": "run by hand" if statuses[name] == "not checked" else statuses[name],
            **triage.get(name, {"verdict": "not triaged"}),
        }
        for name in to_triage
    ]
    if sample is not None:
        drawn = {name: status for name, status in statuses.items() if name in sample}
        row["sample"], _ = score(drawn, triage)
        row["sample"]["drawn"] = sorted(drawn, key=_natural)
        row["estimate"] = _estimate(row, row["sample"])
    return row


def render(results):
    lines = [
        "# Mutation scores",
        "",
        "Written by `benchmarks/mutation_report.py` from mutmut's verdicts (`make mutation`) and the triage",
        "record `benchmarks/mutation_triage.json`; how the runs were made is in docs/mutation.md. Score after",
        "triage = (killed by the run + killed by a test written in triage) / (checked - equivalent), with its 95%",
        "Wilson interval. *Checked*: given a verdict by mutmut, or applied to the source and tested by hand (\"run by",
        "hand\" below). *Sample*: a uniform random sample of the mutants still unchecked when it was drawn, run",
        "in full: its score estimates that of the mutants not run, and the last column that of the whole module",
        "(the mutants checked as counted, the others at the sample's score and share of equivalent mutants).",
        "",
    ]
    columns = ["module", "commit", "mutants", "checked", "killed by the run", "killed after triage",
               "equivalent", "surviving", "not triaged", "score after triage %", "95% interval", "sample",
               "whole module, estimated %"]
    rows = []
    for row in results["modules"]:
        sample = row.get("sample")
        rows.append([
            f"`{row['module']}`", f"`{row['commit']}`", row["mutants"], row["checked"], row["killed_by_run"],
            row["killed_after_triage"], row["equivalent"], row["surviving"], row["not_triaged"],
            row["score"], "–".join(map(str, row["interval"] or [])),
            f"{sample['checked']} checked, {sample['score']}% ({'–'.join(map(str, sample['interval'] or []))})"
            if sample else "",
            row.get("estimate", row["score"]),
        ])
    lines += table(columns, rows)
    lines += ["", "Test lists of the runs:", ""]
    lines += [f"- `{row['module']}`: `{row['tests']}`" for row in results["modules"]]
    for row in results["modules"]:
        if row["survivors"]:
            lines += ["", f"## `{row['module']}`: mutants the run did not kill", ""]
            lines += table(["mutant", "mutmut", "verdict", "test, or why"],
                           [[f"`{s['mutant']}`", s["mutmut"], s["verdict"], s.get("by", "")]
                            for s in row["survivors"]])
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mutants", type=Path, help="mutmut's mutants/ folder")
    parser.add_argument("modules", nargs="+", help="source paths, as mutmut names its .meta files")
    parser.add_argument("--commit", required=True, help="the commit the mutants were made from")
    parser.add_argument("--tests", required=True, help="the test list of the run (MUTATION_TESTS)")
    parser.add_argument("--sample", type=Path, help="file of mutant names drawn at random, one per line")
    args = parser.parse_args(argv)
    triage = json.loads(TRIAGE.read_text(encoding="utf-8"))
    unknown = {name for name, entry in triage.items() if entry.get("verdict") not in VERDICTS}
    if unknown:
        sys.exit(f"{TRIAGE}: verdicts must be one of {sorted(VERDICTS)}: {sorted(unknown)}")
    sample = set(args.sample.read_text(encoding="utf-8").split()) if args.sample else None
    path = RESULTS / "mutation.json"
    results = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"modules": []}
    fresh = {m: module_row(args.mutants, m, args.commit, args.tests, triage, sample) for m in args.modules}
    kept = [row for row in results["modules"] if row["module"] not in fresh]
    results["modules"] = sorted(kept + list(fresh.values()), key=lambda row: row["module"])
    print(write_results("mutation", results, render))


if __name__ == "__main__":
    main()
