"""The main job executes notebooks into results/ and gathers the cells tagged 'summary'."""

import importlib.util
from pathlib import Path

import nbformat

SCRIPT = Path(__file__).resolve().parents[1] / "data_scripts" / "run_notebooks.py"


def load_script():
    spec = importlib.util.spec_from_file_location("run_notebooks", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_notebook(path: Path, cells: list) -> None:
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)


def test_executes_writes_html_and_gathers_summaries(tmp_path, capsys):
    source = tmp_path / "demo.ipynb"
    table = nbformat.v4.new_code_cell(
        "from IPython.display import Markdown\nMarkdown('| model | accuracy |\\n|---|---|\\n| tiny | %.2f |' % (3 / 4))",
        metadata={"tags": ["summary"]},
    )
    write_notebook(source, [nbformat.v4.new_code_cell("x = 1"), table])
    out = tmp_path / "results"
    assert load_script().main([str(source), "--out", str(out)]) == 0
    executed = nbformat.read(out / "demo.ipynb", as_version=4)
    assert executed.cells[0].execution_count == 1
    assert (out / "demo.html").read_text().startswith("<!DOCTYPE html>")
    summary = (out / "summary.md").read_text()
    assert "## demo" in summary and "| tiny | 0.75 |" in summary
    assert "[1/1] demo.ipynb" in capsys.readouterr().out


def test_a_failing_notebook_fails_the_job(tmp_path):
    source = tmp_path / "broken.ipynb"
    write_notebook(source, [nbformat.v4.new_code_cell("raise ValueError('no')")])
    assert load_script().main([str(source), "--out", str(tmp_path / "results")]) == 1
