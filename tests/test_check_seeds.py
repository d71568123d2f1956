"""data_scripts/check_seeds.py: asserts rewritten to record, and the per-seed table."""

from __future__ import annotations

import json

import nbformat
import torch
from nbclient import NotebookClient

import camkit.evaluation

from .scripts import load_script


def test_asserts_record_instead_of_raise_and_the_table_shows_each_seed(tmp_path):
    script = load_script("check_seeds")
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("%matplotlib inline\nx = 0.3\nassert x > 0.5 and x < 1\nafter = True"),
        nbformat.v4.new_code_cell("# NBVAL_IGNORE_OUTPUT\nfor i in range(3):\n    assert i < 2\n"
                                  "i = 10\nassert all(i < 5 for i in [1])\nassert 0.1 < x <= 0.4"),
    ])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells[1].metadata["tags"] = ["summary"]
    records_file = tmp_path / "records.json"
    instrumented = script.instrument(notebook, records_file)
    assert instrumented.cells[2].metadata["tags"] == ["summary"]  # the summary tables are still found
    NotebookClient(instrumented, kernel_name="python3").execute()  # nothing raises
    records = json.loads(records_file.read_text())
    assert [(r["key"], r["passed"]) for r in records] == [
        ("0:check:3", False), ("1:ignore:3", True), ("1:ignore:3", True), ("1:ignore:3", False),
        ("1:ignore:5", True), ("1:ignore:6", True)]
    assert records[0]["comparisons"][0] == {"source": "x > 0.5", "ops": [">"], "values": [0.3, 0.5]}
    assert records[4]["comparisons"] == []  # a comparison inside a comprehension is not evaluated outside it
    other_seed = json.loads(json.dumps(records).replace("0.3, 0.5", "0.7, 0.5"))
    rows = script.table({0: {"nb.ipynb": records}, 1: {"nb.ipynb": other_seed}}).splitlines()
    assert rows[0] == "| notebook | cell | comparison | seed 0 | seed 1 | smallest margin |"
    assert "| nb.ipynb | 0 | `x > 0.5` | **0.3 > 0.5** | 0.7 > 0.5 | -0.2 |" in rows  # failed: shown, though not ignored
    assert "| nb.ipynb | 1 | `i < 2` | **2 < 2** | **2 < 2** | 0 |" in rows  # a loop: its closest call
    assert "| nb.ipynb | 1 | `0.1 < x <= 0.4` | 0.1 < 0.3 <= 0.4 | 0.1 < 0.3 <= 0.4 | 0.1 |" in rows


def test_a_cell_that_raises_is_a_failure_unless_tagged(tmp_path):
    script = load_script("check_seeds")
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("1 / 0", metadata={"tags": ["raises-exception"]}),
        nbformat.v4.new_code_cell("undefined_name"),
    ])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    executed = script.instrument(notebook, tmp_path / "records.json")
    NotebookClient(executed, kernel_name="python3", allow_errors=True).execute()
    errors = script.unexpected_errors(notebook, executed)
    assert [(e["key"], e["passed"]) for e in errors] == [("1:error", False)]
    assert errors[0]["source"].startswith("NameError")


def test_summary_tables_put_the_seeds_side_by_side_and_leave_out_equal_ones():
    script = load_script("check_seeds")
    table = "### VGG16-GAP\n\n| measure | value |\n|---|---|\n| test accuracy | 98.0% |\n| pointing game | 91.5% |"
    other = table.replace("98.0%", "97.5%")
    merged = script.summary_tables({0: {"10_vgg.ipynb": [table], "14.ipynb": [table]},
                                    1: {"10_vgg.ipynb": [other], "14.ipynb": [table]}})
    assert merged.splitlines()[:5] == ["### 10_vgg.ipynb: VGG16-GAP", "", "| measure | seed 0 | seed 1 |",
                                       "|---|---:|---:|", "| test accuracy | 98.0% | 97.5% |"]
    assert "| pointing game | 91.5% | 91.5% |" in merged and "14.ipynb" not in merged


def test_summary_tables_read_the_interval_tables_value_and_interval():
    script = load_script("check_seeds")
    hits = {"correct": torch.tensor([True] * 8 + [False] * 2)}
    table = camkit.evaluation.summary_markdown("ResNet18", hits, {}, {"captum": 3e-7})
    other = camkit.evaluation.summary_markdown("ResNet18", {"correct": torch.ones(10, dtype=torch.bool)}, {}, {"captum": 3e-7})
    merged = script.summary_tables({0: {"11_resnet.ipynb": [table]}, 1: {"11_resnet.ipynb": [other]}})
    assert "| accuracy | 80.0% [49.0% – 94.3%] | 100.0% [72.2% – 100.0%] |" in merged.splitlines()
    assert "| largest difference to captum | 3.0e-07 | 3.0e-07 |" in merged.splitlines()
    assert not any(line.startswith("| map ") for line in merged.splitlines())


def test_summary_tables_skip_each_tables_header_whatever_it_is_called():
    script = load_script("check_seeds")
    tables = "| metric | rho |\n|---|---|\n| deletion | +0.3 |\n\n| fill | gap |\n|:--|--:|\n| zero | 0.1 |\n| linear | 0.8 |"
    assert script._rows(tables) == [("deletion", "+0.3"), ("zero", "0.1"), ("linear", "0.8")]


def test_reuse_takes_the_records_of_a_run_of_the_same_code_cells(tmp_path, monkeypatch):
    script = load_script("check_seeds")
    monkeypatch.setenv("CAMKIT_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(script.subprocess, "run", lambda *args, **options: None)  # no zoo to train here
    runs = []

    class CountingKernel:  # stands in for a kernel run: counts it, records nothing
        def __init__(self, notebook, path, **options):
            self.path = path

        def execute(self, env):
            runs.append(self.path.name)

    monkeypatch.setattr(script, "kernel", CountingKernel)
    path, out = tmp_path / "nb.ipynb", tmp_path / "records"
    out.mkdir()
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# A"), nbformat.v4.new_code_cell("x = 1")])
    nbformat.write(notebook, path)
    script.record_seed(0, [path], out, reuse=True)
    script.record_seed(0, [path], out, reuse=False)
    assert runs == ["nb.ipynb"] * 2  # nothing to reuse the first time; not asked to the second
    notebook.cells[0].source = "# Another title"  # prose and outputs do not change the records
    notebook.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    nbformat.write(notebook, path)
    script.record_seed(0, [path], out, reuse=True)
    assert len(runs) == 2
    notebook.cells[1].source = "x = 2"
    nbformat.write(notebook, path)
    script.record_seed(0, [path], out, reuse=True)
    assert len(runs) == 3
