"""The main job executes notebooks into results/ and gathers the cells tagged 'summary'."""

from pathlib import Path

import nbformat

from .scripts import load_script


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
    assert load_script("run_notebooks").main([str(source), "--out", str(out), "--no-zoo"]) == 0
    executed = nbformat.read(out / "demo.ipynb", as_version=4)
    assert executed.cells[0].execution_count == 1
    assert (out / "demo.html").read_text().startswith("<!DOCTYPE html>")
    summary = (out / "summary.md").read_text()
    assert "## demo" in summary and "| tiny | 0.75 |" in summary
    assert "[1/1] demo.ipynb" in capsys.readouterr().out


def test_a_failing_notebook_is_reported_saved_and_fails_the_job_at_the_end(tmp_path, capsys):
    broken, fine = tmp_path / "a_broken.ipynb", tmp_path / "b_fine.ipynb"
    write_notebook(broken, [nbformat.v4.new_markdown_cell("# title"), nbformat.v4.new_code_cell("x = 1"),
                            nbformat.v4.new_code_cell("y = 2\nassert x > 3, 'x is too small'\nz = 3")])
    write_notebook(fine, [nbformat.v4.new_code_cell("print('ran')")])
    out = tmp_path / "results"
    assert load_script("run_notebooks").main([str(broken), str(fine), "--out", str(out), "--no-zoo"]) == 1
    printed = capsys.readouterr()
    assert "cell 2, line 2: assert x > 3, 'x is too small'" in printed.out
    assert "AssertionError: x is too small" in printed.out
    assert "Notebooks that failed: a_broken.ipynb" in printed.err
    partial = nbformat.read(out / "a_broken.ipynb", as_version=4)  # saved as far as it ran
    assert partial.cells[1].execution_count == 1 and partial.cells[2].outputs[-1].output_type == "error"
    assert (out / "a_broken.html").is_file()
    assert nbformat.read(out / "b_fine.ipynb", as_version=4).cells[0].outputs[0].text == "ran\n"  # the job went on


def test_cells_tagged_report_write_their_own_page_with_pictures(tmp_path):
    source = tmp_path / "metrics.ipynb"
    table = nbformat.v4.new_code_cell("from IPython.display import Markdown\nMarkdown('| metric | value |\\n|---|---|\\n| AUC | 0.5 |')",
                                      metadata={"tags": ["report:evaluation"]})
    figure = nbformat.v4.new_code_cell("%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.plot([0, 1])\nplt.show()",
                                       metadata={"tags": ["report:evaluation"]})
    write_notebook(source, [table, figure])
    out = tmp_path / "results"
    assert load_script("run_notebooks").main([str(source), "--out", str(out), "--no-zoo"]) == 0
    report = (out / "evaluation.md").read_text()
    assert report.startswith("# evaluation\n\nWritten by `make results` from `notebooks/metrics.ipynb`")
    assert "| AUC | 0.5 |" in report and "![evaluation](evaluation-1.png)" in report
    assert (out / "evaluation-1.png").read_bytes().startswith(b"\x89PNG")
    assert "[evaluation.md](evaluation.md)" in (out / "summary.md").read_text()


def test_in_place_runs_a_widget_cell_and_stores_no_widget_state(tmp_path, capsys):
    """--in-place re-executes a notebook for committing: an ipywidgets cell neither hangs nor leaves
    widget state in the metadata (nbclient's Output-widget imitation is off)."""
    path = tmp_path / "widget.ipynb"
    write_notebook(path, [nbformat.v4.new_code_cell(
        "from ipywidgets import interact\n"
        "def show(k=2):\n    print('k =', k)\n"
        "interact(show, k=(1, 5));")])
    assert load_script("run_notebooks").main([str(path), "--in-place", "--timeout", "60"]) == 0
    executed = nbformat.read(path, as_version=4)
    assert executed.cells[0].execution_count == 1 and "widgets" not in executed.metadata
    assert any("interactive(" in o.get("data", {}).get("text/plain", "") for o in executed.cells[0].outputs)
    assert "widget.ipynb: " in capsys.readouterr().out
