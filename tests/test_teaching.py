"""What a learner finds in every stored notebook: exercises with executed solutions, a self-check,
a widget on the lesson's knob, and links onward (reads the .ipynb files; no kernel starts)."""

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
TUTORIALS = sorted(p.name for p in NOTEBOOKS.glob("0[0-7]_*.ipynb"))
# The reading order: tutorials, reproductions, the evaluation; the explorer (20) at any time.
READING_ORDER = TUTORIALS + sorted(p.name for p in NOTEBOOKS.glob("1[0-9]_*.ipynb")) + ["30_evaluation.ipynb"]
EXPLORER = "20_explorer.ipynb"


def cells(name: str) -> list[dict]:
    return json.loads((NOTEBOOKS / name).read_text())["cells"]


def source(cell: dict) -> str:
    return "".join(cell["source"])


def test_the_tutorials_are_the_eight_lessons():
    assert len(TUTORIALS) == 8, TUTORIALS


@pytest.mark.parametrize("name", TUTORIALS)
def test_tutorial_ends_with_exercises_each_with_an_executed_hidden_solution(name):
    body = cells(name)
    starts = [i for i, c in enumerate(body) if c["cell_type"] == "markdown" and source(c).startswith("## Exercises")]
    assert len(starts) == 1, f"{name}: one markdown cell starting '## Exercises'"
    exercises = [i for i, c in enumerate(body) if c["cell_type"] == "markdown" and source(c).startswith("**Exercise ")]
    assert 3 <= len(exercises) <= 5, f"{name}: {len(exercises)} exercises, want 3-5"
    assert all(i > starts[0] for i in exercises), f"{name}: an exercise before the Exercises heading"
    for number, (first, end) in enumerate(zip(exercises, exercises[1:] + [len(body)]), start=1):
        assert source(body[first]).startswith(f"**Exercise {number}.**"), f"{name}: exercise {number} misnumbered"
        solutions = [c for c in body[first + 1:end] if c["cell_type"] == "code" and "solution" in c["metadata"].get("tags", [])]
        assert solutions, f"{name}: exercise {number} has no code cell tagged 'solution' after it"
        assert source(solutions[0]).startswith(f"# Solution to exercise {number}"), f"{name}: solution {number}'s first line"
        assert "assert " in source(solutions[0]), f"{name}: solution {number} checks nothing"
        for solution in solutions:
            assert solution["metadata"].get("jupyter", {}).get("source_hidden"), f"{name}: solution {number} is not collapsed"
            assert solution["execution_count"] is not None and solution["outputs"], f"{name}: solution {number} not executed"


@pytest.mark.parametrize("name", TUTORIALS)
def test_tutorial_has_a_self_check_with_hidden_answers(name):
    checks = [source(c) for c in cells(name) if c["cell_type"] == "markdown" and source(c).startswith("## Check yourself")]
    assert len(checks) == 1, f"{name}: one markdown cell starting '## Check yourself'"
    assert checks[0].count("<details>") >= 2, f"{name}: want at least two questions with answers in <details>"


@pytest.mark.parametrize("name", TUTORIALS)
def test_tutorial_has_a_widget_on_its_knob_after_a_static_picture(name):
    body = cells(name)
    widgets = [i for i, c in enumerate(body) if c["cell_type"] == "code" and re.search(r"\binteract(ive)?\(", source(c))]
    assert widgets, f"{name}: no ipywidgets interact cell"
    for i in widgets:
        first_line = source(body[i]).splitlines()[0].strip()
        assert first_line == "# NBVAL_IGNORE_OUTPUT", f"{name}: widget cell {i}'s first line must be the nbval marker alone"
        earlier = [c for c in body[:i] if c["cell_type"] == "code" and c["outputs"]]
        assert any(set(o.get("data", {})) & {"image/png", "image/jpeg"} for c in earlier[-2:] for o in c["outputs"]), (
            f"{name}: widget cell {i} has no static picture just before it (a kernel-less reader sees nothing)")


@pytest.mark.parametrize("name", READING_ORDER + [EXPLORER])
def test_notebook_links_onward(name):
    last = source(cells(name)[-1])
    links = set(re.findall(r"\]\(([0-9]{2}_[a-z_0-9]+\.ipynb)\)", last))
    assert all((NOTEBOOKS / link).exists() for link in links), f"{name}: a link to a missing notebook: {links}"
    if name == EXPLORER:
        assert READING_ORDER[0] in links, f"{name}: the last cell links nowhere to start reading"
        return
    assert EXPLORER in links, f"{name}: the last cell does not link to the explorer"
    position = READING_ORDER.index(name)
    if position + 1 < len(READING_ORDER):
        assert READING_ORDER[position + 1] in links, f"{name}: the last cell does not link to {READING_ORDER[position + 1]}"


@pytest.mark.parametrize("name", READING_ORDER + [EXPLORER])
def test_notebook_stores_no_widget_state(name):
    """A widget's live output is not stored (re-execute with `data_scripts/run_notebooks.py --in-place`):
    the static picture before it is what a reader without a kernel sees, at a fraction of the size."""
    metadata = json.loads((NOTEBOOKS / name).read_text())["metadata"]
    assert "widgets" not in metadata, f"{name} stores widget state ({len(json.dumps(metadata['widgets']))} bytes)"
