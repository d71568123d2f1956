"""Every notebook in notebooks/ is collected by nbval, so none can slip past ``make test``.

nbval only checks the notebooks pytest collects.  A notebook it does not collect (a name pytest
skips, a folder left out of the test command, a file nbformat cannot read, a notebook without a
code cell) would pass CI without ever being run.  The test asks pytest itself, in a subprocess,
what ``--nbval`` collects from ``notebooks/`` (collection only: no kernel starts, a few seconds)
and compares it with the files on disk; a second test checks that the CI test command
(``make test``) really runs nbval over ``notebooks``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


def notebooks_on_disk() -> set[str]:
    """``notebooks/<name>.ipynb`` for every notebook file (hidden checkpoint folders aside)."""
    return {path.relative_to(ROOT).as_posix() for path in NOTEBOOKS.glob("*.ipynb")}


def notebooks_collected() -> set[str]:
    """The notebook files that ``pytest --nbval --collect-only`` reports test items for."""
    command = [
        sys.executable, "-m", "pytest", "--collect-only", "-q", "--nbval", "--nbval-current-env",
        "-p", "no:cacheprovider", "--rootdir", str(ROOT), "notebooks",
    ]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    # Exit code 5 means "no tests collected": fine for an empty folder, the sets then say the rest.
    assert run.returncode in (0, 5), f"nbval collection failed ({run.returncode}):\n{run.stdout}\n{run.stderr}"
    items = [line.strip() for line in run.stdout.splitlines() if "::" in line]
    return {item.split("::", 1)[0] for item in items}


def test_every_notebook_is_collected_by_nbval():
    on_disk = notebooks_on_disk()
    if not on_disk:
        pytest.skip("no notebooks in notebooks/ yet")
    collected = notebooks_collected()
    missing = sorted(on_disk - collected)
    assert not missing, f"nbval collects no cell of: {', '.join(missing)} (unreadable, or no code cell?)"
    assert collected <= on_disk, f"nbval collected unexpected files: {sorted(collected - on_disk)}"


def test_ci_test_command_runs_nbval_over_notebooks():
    """``make test`` (what .ci/run calls) passes --nbval and the notebooks folder to pytest."""
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^test:.*\n((?:\t.*\n?)+)", makefile, flags=re.MULTILINE)
    assert recipe, "the Makefile has no 'test' target"
    pytest_lines = [line for line in recipe.group(1).splitlines() if "pytest" in line]
    assert any("--nbval" in line and re.search(r"\snotebooks(\s|$)", line) for line in pytest_lines), (
        "make test does not run `pytest --nbval ... notebooks`: " + " | ".join(pytest_lines)
    )


def test_ci_trains_the_zoo_from_an_empty_cache():
    """.ci/run gives `make test` an empty CAMKIT_HOME of its own, as a new user's machine has."""
    script = (ROOT / ".ci" / "run").read_text()
    home = re.search(r'^CAMKIT_HOME="\$\(mktemp -d [^)]*\)"\s*$', script, flags=re.MULTILINE)
    assert home and re.search(r"^export CAMKIT_HOME\s*$", script, flags=re.MULTILINE), "no fresh CAMKIT_HOME"
    assert script.index("export CAMKIT_HOME") < re.search(r"^make test", script, flags=re.MULTILINE).start()


def test_stored_notebooks_show_no_error_and_nothing_on_stderr():
    """What a reader sees without running anything: no traceback, no warning, no progress bar noise."""
    found = []
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        for index, cell in enumerate(json.loads(path.read_text())["cells"]):
            for output in cell.get("outputs", []):
                if output["output_type"] == "error" or output.get("name") == "stderr":
                    found.append(f"{path.name} cell {index}: {output['output_type']} {output.get('name', '')}")
    assert not found, "stored outputs a learner should not see:\n" + "\n".join(found)
