"""The main job: build what the notebooks need, execute every notebook into results/ and gather
their summaries.

    python data_scripts/run_notebooks.py [--out results] [NOTEBOOK ...]
    python data_scripts/run_notebooks.py --in-place NOTEBOOK ...   # re-execute before committing

First the offline ShapeScenes zoo is trained where the cache (``$CAMKIT_HOME``) lacks it, with a
progress bar and an estimate (``data_scripts/train_zoo.py``); the notebooks then run with
``CAMKIT_NO_TRAIN=1``, so no kernel ever trains in silence.  Each notebook in ``notebooks/`` (or
the ones named) is executed top to bottom in a fresh kernel with the zoo's ``weights="auto"``
(ImageNet weights where present, camkit's ShapeScenes weights otherwise) and written to
``results/`` as an executed ``.ipynb`` and as HTML, also when a cell fails: then the failing
cell, its line and the error are printed, the other notebooks still run, and the job exits 1 at
the end.  Cells tagged ``summary`` hold a notebook's table of measured numbers; their markdown
outputs are collected into ``results/summary.md``.  Cells tagged ``report:NAME`` make a report of
their own: their markdown outputs and pictures (PNG) go into ``results/NAME.md`` (pictures beside
it as ``NAME-1.png``, ...), and ``summary.md`` links it.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SUMMARY_TAG = "summary"
REPORT_TAG = "report:"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class WidgetBlindClient(NotebookClient):
    """nbclient without its imitation of ipywidgets' Output widget.

    The imitation can hang an ``interact`` cell until its timeout (nbclient 0.11: it sends on the
    channel it is waiting on; nbclient issue 312).  Without it a widget cell's output is only the
    widget itself, and no widget state is stored: the static picture before each widget is what a
    reader without a kernel sees.
    """

    def on_comm_open_jupyter_widget(self, msg: dict) -> None:  # noqa: D102
        return None


def kernel(notebook: nbformat.NotebookNode, path: Path, timeout: int, **options) -> NotebookClient:
    """A client that runs ``notebook`` in a fresh kernel in ``path``'s folder (so relative paths work)."""
    return WidgetBlindClient(notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}},
                             extra_arguments=["--IPKernelApp.log_level=ERROR"], **options)  # no kernel chatter in the progress


def execute_in_place(path: Path, timeout: int, env: dict[str, str] | None = None) -> None:
    """Re-execute a notebook where it lies, as it is committed: with its outputs, without widget state."""
    notebook = nbformat.read(path, as_version=4)
    kernel(notebook, path, timeout, store_widget_state=False).execute(env=env)
    notebook.metadata.pop("widgets", None)
    nbformat.write(notebook, path)


def execute(path: Path, out_dir: Path, timeout: int, env: dict[str, str] | None = None) -> tuple[nbformat.NotebookNode, str | None]:
    """Run one notebook in a fresh kernel and save it and its HTML.

    Returns the executed notebook and, when a cell failed, a report of the failure (the notebook
    is saved as far as it ran, the failing cell's error included).
    """
    notebook = nbformat.read(path, as_version=4)
    failure = None
    try:
        kernel(notebook, path, timeout).execute(env=env)  # env: the kernel's environment (default: ours)
    except CellExecutionError as error:
        failure = describe_failure(notebook, error)
    nbformat.write(notebook, out_dir / path.name)
    html, _ = HTMLExporter().from_notebook_node(notebook)
    (out_dir / path.with_suffix(".html").name).write_text(html, encoding="utf-8")
    return notebook, failure


def describe_failure(notebook: nbformat.NotebookNode, error: CellExecutionError) -> str:
    """``cell N, line L: <source line>`` and ``ErrorName: message`` of the cell that failed."""
    for index, cell in enumerate(notebook.cells):
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if cell.cell_type != "code" or not errors:
            continue
        output = errors[-1]
        line_number, line = None, ""
        for frame in (_ANSI.sub("", f) for f in output.get("traceback", [])):
            if "Cell In[" not in frame:  # a frame of the cell itself, not of a library it called
                continue
            for text in frame.splitlines():  # IPython marks the failing line with an arrow
                match = re.match(r"\s*-+>\s*(\d+)\s(.*)", text)
                if match:
                    line_number, line = int(match.group(1)), match.group(2).strip()
            if line_number is not None:
                break
        where = f"cell {index}" + (f", line {line_number}: {line}" if line_number is not None else "")
        return f"{where}\n    {output.get('ename')}: {output.get('evalue')}"
    return f"{error.ename}: {error.evalue}"


def summary_sections(notebook: nbformat.NotebookNode) -> list[str]:
    """Markdown outputs of the cells tagged ``summary``."""
    sections = []
    for cell in notebook.cells:
        if SUMMARY_TAG not in cell.get("metadata", {}).get("tags", []):
            continue
        sections += [text for output in cell.get("outputs", []) if (text := _markdown(output))]
    return sections


def _markdown(output: dict) -> str:
    """An output's markdown text ("" when it has none; stored as one string or a list of lines)."""
    text = output.get("data", {}).get("text/markdown", "")
    return text if isinstance(text, str) else "".join(text)


def write_reports(notebook: nbformat.NotebookNode, out: Path, source: str = "the notebook") -> list[str]:
    """Write the reports of the cells tagged ``report:NAME`` into ``out`` (``NAME.md`` and its
    pictures, under a heading that names ``source``); returns the report file names."""
    reports: dict[str, list[str]] = {}
    for cell in notebook.cells:
        names = [tag[len(REPORT_TAG):] for tag in cell.get("metadata", {}).get("tags", []) if tag.startswith(REPORT_TAG)]
        for name in names:
            parts = reports.setdefault(name, [f"# {name}\n\nWritten by `make results` from {source}; the numbers are this machine's."])
            for output in cell.get("outputs", []):
                data = output.get("data", {})
                if "text/markdown" in data:
                    parts.append(_markdown(output))
                elif "image/png" in data:
                    picture = f"{name}-{sum(part.startswith('![') for part in parts) + 1}.png"
                    (out / picture).write_bytes(base64.b64decode(data["image/png"]))
                    parts.append(f"![{name}]({picture})")
    for name, parts in reports.items():
        (out / f"{name}.md").write_text("\n\n".join(part.strip() for part in parts) + "\n", encoding="utf-8")
    return [f"{name}.md" for name in reports]


def build_zoo() -> int:
    """Train the ShapeScenes models the cache lacks (unless ImageNet weights are pinned)."""
    if os.environ.get("CAMKIT_WEIGHTS", "").strip() == "imagenet":
        return 0
    print("Step 1: the offline model zoo", flush=True)
    return subprocess.run([sys.executable, str(ROOT / "data_scripts" / "train_zoo.py")]).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks to run (default: all in notebooks/)")
    parser.add_argument("--out", type=Path, default=ROOT / "results", help="where to write (default: results/)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds allowed per cell")
    parser.add_argument("--no-zoo", action="store_true", help="do not build the zoo first")
    parser.add_argument("--in-place", action="store_true",
                        help="re-execute the named notebooks where they lie, for committing (needs the zoo; no results/)")
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.notebooks] or sorted(NOTEBOOKS.glob("*.ipynb"))
    if args.in_place:
        for path in paths:
            tick = time.perf_counter()
            execute_in_place(path, args.timeout, {**os.environ, "CAMKIT_NO_TRAIN": "1"})
            print(f"{path.name}: {time.perf_counter() - tick:.0f} s", flush=True)
        return 0
    if not args.no_zoo and build_zoo() != 0:
        print("The zoo could not be built: see the error above.", file=sys.stderr)
        return 1
    return run_all(paths, args.out, args.timeout)


def run_all(paths: list[Path], out: Path, timeout: int) -> int:
    """Execute ``paths`` into ``out`` one by one, with their times; 1 when any failed."""
    out.mkdir(parents=True, exist_ok=True)
    summary = ["# camkit results", ""]
    started = time.perf_counter()
    failures = []
    env = {**os.environ, "CAMKIT_NO_TRAIN": "1"}  # in the kernels a missing model is an error, not a silent training run
    print(f"Step 2: {len(paths)} notebooks into {out}", flush=True)
    for number, path in enumerate(paths, 1):
        print(f"[{number}/{len(paths)}] {path.name} ...", end=" ", flush=True)
        tick = time.perf_counter()
        try:
            notebook, failure = execute(path, out, timeout, env)
        except Exception as error:  # noqa: BLE001 - the kernel died or the file is broken: report, go on
            notebook, failure = None, f"{type(error).__name__}: {error}"
        seconds = time.perf_counter() - tick
        if failure:
            print(f"FAILED after {seconds:.0f} s at {failure}", flush=True)
            failures.append(path.name)
            if notebook is not None:
                print(f"    the notebook as far as it ran: {out / path.name} (and .html)", flush=True)
            continue
        print(f"{seconds:.0f} s", flush=True)
        for section in summary_sections(notebook):
            summary += [f"## {path.stem}", "", section.strip(), ""]
        for report in write_reports(notebook, out, f"`notebooks/{path.name}`"):
            summary += [f"## {path.stem}", "", f"The full report: [{report}]({report}).", ""]
    (out / "summary.md").write_text("\n".join(summary) + "\n", encoding="utf-8")
    print(f"Done in {time.perf_counter() - started:.0f} s. Open {out / 'summary.md'} and the HTML pages in {out}/.")
    if failures:
        print(f"Notebooks that failed: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
