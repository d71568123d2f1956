"""The main job: execute every notebook headless into results/ and gather their summaries.

    python data_scripts/run_notebooks.py [--out results] [NOTEBOOK ...]

Each notebook in ``notebooks/`` (or the ones named) is executed top to bottom in a fresh kernel
with the zoo's ``weights="auto"`` (ImageNet weights where present, camkit's offline ShapeScenes
weights otherwise), and written to ``results/`` as an executed ``.ipynb`` and as HTML.  Cells
tagged ``summary`` hold a notebook's table of measured numbers; their markdown outputs are
collected into ``results/summary.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SUMMARY_TAG = "summary"


def execute(path: Path, out_dir: Path, timeout: int) -> nbformat.NotebookNode:
    """Run one notebook in its own folder (so relative paths work) and save it and its HTML."""
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}},
                   extra_arguments=["--IPKernelApp.log_level=ERROR"]).execute()  # no kernel chatter in the progress
    nbformat.write(notebook, out_dir / path.name)
    html, _ = HTMLExporter().from_notebook_node(notebook)
    (out_dir / path.with_suffix(".html").name).write_text(html, encoding="utf-8")
    return notebook


def summary_sections(notebook: nbformat.NotebookNode) -> list[str]:
    """Markdown outputs of the cells tagged ``summary``."""
    sections = []
    for cell in notebook.cells:
        if SUMMARY_TAG not in cell.get("metadata", {}).get("tags", []):
            continue
        for output in cell.get("outputs", []):
            text = output.get("data", {}).get("text/markdown")
            if text:
                sections.append(text if isinstance(text, str) else "".join(text))
    return sections


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks to run (default: all in notebooks/)")
    parser.add_argument("--out", type=Path, default=ROOT / "results", help="where to write (default: results/)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds allowed per cell")
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.notebooks] or sorted(NOTEBOOKS.glob("*.ipynb"))
    args.out.mkdir(parents=True, exist_ok=True)
    summary = ["# camkit results", ""]
    started = time.perf_counter()
    failures = []
    for number, path in enumerate(paths, 1):
        print(f"[{number}/{len(paths)}] {path.name} ...", end=" ", flush=True)
        tick = time.perf_counter()
        try:
            notebook = execute(path, args.out, args.timeout)
        except Exception as error:  # noqa: BLE001 - report every notebook, then fail at the end
            print(f"FAILED after {time.perf_counter() - tick:.0f} s: {type(error).__name__}")
            failures.append(path.name)
            continue
        print(f"{time.perf_counter() - tick:.0f} s")
        for section in summary_sections(notebook):
            summary += [f"## {path.stem}", "", section.strip(), ""]
    (args.out / "summary.md").write_text("\n".join(summary) + "\n", encoding="utf-8")
    print(f"Done in {time.perf_counter() - started:.0f} s. Open {args.out / 'summary.md'} and the HTML pages in {args.out}/.")
    if failures:
        print(f"Notebooks that failed: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
