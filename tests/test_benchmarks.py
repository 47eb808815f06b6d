"""The benchmarks cannot rot: every one runs at its smoke size through `benchmarks/run.py --smoke` and prints the
fields the README quotes; they use no private helper of the package; each figure of the Performance page (docs/performance.md)
cites the results file of the run it came from."""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

BENCH = REPO / "benchmarks"


def _load_run():
    spec = importlib.util.spec_from_file_location("benchmarks_run", BENCH / "run.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


RUN = _load_run()


@pytest.mark.timeout(1800)
def test_every_benchmark_runs_at_smoke_size_and_prints_the_quoted_fields(demo_run, tmp_path):
    """Every benchmark at its smoke size; the pipeline's projection over the session's demo run (the same Snakefile
    and command its own smoke run would start, so the suite runs the workflow once less)."""
    recorded = set((BENCH / "results").glob("*.json"))
    run = tmp_path / "run"
    run.mkdir()
    (run / "results").symlink_to(demo_run[0] / "results")
    (run / "config.yaml").symlink_to(demo_run[0] / "config.yaml")
    (run / "snakemake.log").write_text(demo_run[2]["stdout"] + demo_run[2]["stderr"])
    proc = subprocess.run(
        [sys.executable, str(BENCH / "run.py"), "--smoke", "--pipeline-run", str(run)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["smoke"] is True and set(summary["benchmarks"]) == set(RUN.BENCHMARKS)
    for name, result in summary["benchmarks"].items():
        assert "error" not in result, (name, result["error"])
        assert result["smoke"] is True
        assert RUN.missing_fields(result, RUN.BENCHMARKS[name].fields) == [], name
    assert set((BENCH / "results").glob("*.json")) == recorded  # a smoke run records nothing


def test_a_broken_benchmark_is_reported_with_its_error(tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("def _process(a, b):\n    pass\n\n_process(1, 2, 3)\n")
    result = RUN.run_one(broken, [], ("ratio",), smoke=True)
    assert "TypeError" in result["error"] and "exit 1" in result["error"]
    quiet = tmp_path / "quiet.py"
    quiet.write_text("print('done')\n")
    assert "not JSON" in RUN.run_one(quiet, [], ("ratio",), smoke=True)["error"]
    partial = tmp_path / "partial.py"
    partial.write_text("import json, sys\nprint(json.dumps({'smoke': '--smoke' in sys.argv, 'a': {'b': None}}))\n")
    assert RUN.run_one(partial, [], ("a.b", "ratio"), smoke=True)["error"] == "missing: a.b, ratio"
    assert RUN.run_one(partial, ["8"], (), smoke=False).get("error") is None
    full = tmp_path / "full.py"
    full.write_text("import json\nprint(json.dumps({'smoke': False, 'ratio': 1.0}))\n")
    assert "smoke is False" in RUN.run_one(full, [], ("ratio",), smoke=True)["error"]


def test_results_file_names_the_commit_and_marks_uncommitted_code():
    import datetime

    day = datetime.date(2026, 12, 2)
    clean = RUN.results_path({"commit": "0123456789abcdef" * 2, "dirty": False}, day)
    assert clean == BENCH / "results" / "2026-12-02-0123456789ab.json"
    assert RUN.results_path({"commit": "f" * 40, "dirty": True}, day).name == "2026-12-02-ffffffffffff-dirty.json"


def _private_uses(path: Path) -> list[str]:
    """Private names of the package a benchmark imports or reaches into (`_x`, not dunders)."""
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("breastcurate"):
            found += [f"{node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
            found += [node.module] if any(part.startswith("_") for part in node.module.split(".")) else []
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            found.append(ast.unparse(node))
    return found


def test_benchmarks_use_no_private_helper():
    scripts = sorted(BENCH.glob("*.py"))
    assert len(scripts) >= len(RUN.BENCHMARKS)
    assert {s.name for s in scripts} >= {b.script for b in RUN.BENCHMARKS.values()}
    assert {path.name: _private_uses(path) for path in scripts if _private_uses(path)} == {}
    assert _private_uses(BENCH / "run.py") == []


def test_the_private_helper_check_can_fail(tmp_path):
    script = tmp_path / "old.py"
    script.write_text("from breastcurate.deid.run import Collector, _process\nimport x\nx.y._z(1)\n")
    assert _private_uses(script) == ["breastcurate.deid.run._process", "x.y._z"]


def test_each_benchmark_is_recorded_as_it_finishes_and_runs_of_the_same_code_add_up(tmp_path):
    path = tmp_path / "results" / "2026-12-02-0123456789ab.json"
    code = {"commit": "0123456789ab" * 3, "dirty": False}
    RUN.record(path, {"cores": 2}, code, "catalog_size", {"catalog_mb": 37.8})
    RUN.record(path, {"cores": 32}, code, "pipeline", {"met": True})
    RUN.record(path, {"cores": 32}, code, "catalog_size", {"catalog_mb": 38.0})
    recorded = json.loads(path.read_text())
    assert recorded["machine"] == {"cores": 2} and recorded["code"] == code and recorded["smoke"] is False
    assert recorded["benchmarks"] == {"catalog_size": {"catalog_mb": 38.0}, "pipeline": {"met": True}}
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no lock or temporary file left


def _performance_rows() -> dict[str, str]:
    text = (REPO / "docs" / "performance.md").read_text()
    section = text.split("\n## ", 1)[0]  # the page's first section: the table of benchmarks
    rows = [line for line in section.splitlines() if line.startswith("| `benchmarks/")]
    return {re.match(r"\| `benchmarks/(\w+)\.py", row).group(1): row for row in rows}


def test_each_readme_figure_cites_the_results_file_of_its_run():
    rows = _performance_rows()
    assert set(rows) == set(RUN.BENCHMARKS)
    for name, row in rows.items():
        cited = re.findall(r"`(benchmarks/results/[\w.-]+\.json)`", row)
        assert cited, f"{name}: the Performance row cites no results file"
        for rel in cited:
            recorded = json.loads((REPO / rel).read_text())
            assert recorded["smoke"] is False and recorded["code"]["dirty"] is False, rel
            assert rel.endswith(f"-{recorded['code']['commit'][:12]}.json"), rel
            assert "error" not in recorded["benchmarks"][name], (rel, name)
