"""How much each notebook claim moves with the training seed: run the notebooks against zoos
trained with several seeds, record every assert's numbers, and write the table ``docs/seeds.md``.

    python data_scripts/check_seeds.py                    # seeds 0 1 2 3, every notebook
    python data_scripts/check_seeds.py --seeds 1 2 nb.ipynb

Each seed's zoo lives in ``$CAMKIT_HOME/seeds/seed<N>`` (seed 0: ``$CAMKIT_HOME`` itself, the
zoo ``make zoo`` builds) and is trained there first when missing (about 35 minutes a seed on 2
cores).  The notebooks run in fresh kernels with ``CAMKIT_WEIGHTS=shapes``; every ``assert`` is
rewritten to record, instead of raise, whether it held and the two sides of each comparison in
it, so one run shows every claim of every seed, also the ones after a first failure.  The table
lists the asserts of cells marked ``NBVAL_IGNORE_OUTPUT`` (the training-dependent ones) and any
assert that failed for some seed, with its smallest margin over the seeds: the distance to the
threshold, in the units of the comparison.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from IPython.core.inputtransformer2 import TransformerManager

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing
sys.path.insert(0, str(ROOT / "data_scripts"))

from camkit import zoo  # noqa: E402
from run_notebooks import kernel, summary_sections  # noqa: E402

HELPER = '''
import json as _json
_camkit_records = []
def _camkit_check(key, source, test, comparisons):
    try:
        passed = bool(test())
    except Exception as error:  # the claim could not even be evaluated
        passed = False
        source += f"  [{type(error).__name__}: {error}]"
    found = []
    for text, ops, operands in comparisons:
        try:
            values = [float(operand()) for operand in operands]
        except Exception:  # inside a comprehension, or not a number
            continue
        found.append({"source": text, "ops": ops, "values": values})
    _camkit_records.append({"key": key, "source": source, "passed": passed, "comparisons": found})
'''
OPS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}


class _RecordAsserts(ast.NodeTransformer):
    """``assert test`` -> ``_camkit_check(key, "test", lambda: test, [comparisons])``."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def visit_Assert(self, node: ast.Assert) -> ast.stmt:  # noqa: N802 - ast's naming
        comparisons = []
        for sub in _outside_scopes(node.test):
            if isinstance(sub, ast.Compare) and all(type(op) in OPS for op in sub.ops):
                operands = [ast.Lambda(args=_no_args(), body=e) for e in [sub.left, *sub.comparators]]
                comparisons.append(ast.Tuple([ast.Constant(ast.unparse(sub)),
                                              ast.List([ast.Constant(OPS[type(op)]) for op in sub.ops], ast.Load()),
                                              ast.List(operands, ast.Load())], ast.Load()))
        call = ast.Call(ast.Name("_camkit_check", ast.Load()),
                        [ast.Constant(f"{self.prefix}:{node.lineno}"), ast.Constant(ast.unparse(node.test)),
                         ast.Lambda(args=_no_args(), body=node.test), ast.List(comparisons, ast.Load())], [])
        return ast.copy_location(ast.Expr(call), node)


def _outside_scopes(node: ast.AST):
    """The nodes of ``node`` that are not inside a comprehension or lambda, whose names a lambda
    evaluated at the assert could not see (or would see with another value)."""
    yield node
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, (ast.GeneratorExp, ast.ListComp, ast.SetComp, ast.DictComp, ast.Lambda)):
            yield from _outside_scopes(child)


def _no_args() -> ast.arguments:
    return ast.arguments(posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[], defaults=[])


def instrument(notebook: nbformat.NotebookNode, record_file: Path) -> nbformat.NotebookNode:
    """A copy of ``notebook`` whose asserts record instead of raise, dumping to ``record_file``."""
    copy = nbformat.from_dict(json.loads(json.dumps(notebook)))
    to_python = TransformerManager()
    for index, cell in enumerate(copy.cells):
        if cell.cell_type != "code" or "assert" not in cell.source:
            continue
        tree = ast.parse(to_python.transform_cell(cell.source))
        ignored = "NBVAL_IGNORE_OUTPUT" in cell.source
        tree = ast.fix_missing_locations(_RecordAsserts(f"{index}:{'ignore' if ignored else 'check'}").visit(tree))
        cell.source = ast.unparse(tree)
    copy.cells.insert(0, nbformat.v4.new_code_cell(HELPER))
    copy.cells.append(nbformat.v4.new_code_cell(
        f"with open({str(record_file)!r}, 'w') as _f:\n    _json.dump(_camkit_records, _f)"))
    return copy


def unexpected_errors(original: nbformat.NotebookNode, executed: nbformat.NotebookNode) -> list[dict]:
    """A failed record for each cell that raised although it is not tagged ``raises-exception``."""
    found = []
    for index, (cell, ran) in enumerate(zip(original.cells, executed.cells[1:])):  # [0]: the helper cell
        expected = "raises-exception" in cell.get("metadata", {}).get("tags", [])
        for output in ran.get("outputs", []):
            if output.get("output_type") == "error" and not expected:
                found.append({"key": f"{index}:error", "source": f"{output['ename']}: {output['evalue']}",
                              "passed": False, "comparisons": []})
    return found


def seed_home(seed: int) -> Path:
    """Where the zoo of ``seed`` lives."""
    return zoo.camkit_home() if seed == 0 else zoo.camkit_home() / "seeds" / f"seed{seed}"


def code_digest(notebook: nbformat.NotebookNode) -> str:
    """A hash of the notebook's code cells: the records of a run hold for any notebook with the same."""
    sources = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    return hashlib.sha256(json.dumps(sources).encode()).hexdigest()


def record_seed(seed: int, paths: list[Path], out: Path, reuse: bool = False) -> tuple[dict, dict]:
    """Train the seed's zoo if missing, run the notebooks against it: ``{notebook: records}`` and
    ``{notebook: its summary tables}`` (the markdown of its cells tagged ``summary``).

    ``reuse``: take the records of an earlier run of the same code cells (:func:`code_digest`;
    outputs, prose and file times do not matter, a change to camkit itself is not seen).
    """
    env = {**os.environ, "CAMKIT_HOME": str(seed_home(seed)), "CAMKIT_WEIGHTS": "shapes"}
    subprocess.run([sys.executable, str(ROOT / "data_scripts" / "train_zoo.py"), "--seed", str(seed)], env=env, check=True,
                   stdout=sys.stderr)  # its summary is progress here, not the table
    records, summaries = {}, {}
    kernel_env = {**env, "CAMKIT_NO_TRAIN": "1", "MPLBACKEND": "Agg"}
    for path in paths:
        began = time.perf_counter()
        record_file = out / f"seed{seed}-{path.stem}.json"
        summary_file, digest_file = record_file.with_suffix(".summary.json"), record_file.with_suffix(".code")
        digest = code_digest(nbformat.read(path, as_version=4))
        if reuse and summary_file.is_file() and digest_file.is_file() and digest_file.read_text() == digest:
            records[path.name] = json.loads(record_file.read_text())
            summaries[path.name] = json.loads(summary_file.read_text())
            continue
        notebook = instrument(nbformat.read(path, as_version=4), record_file)
        kernel(notebook, path, timeout=1800, allow_errors=True).execute(env=kernel_env)
        records[path.name] = json.loads(record_file.read_text()) if record_file.is_file() else []
        records[path.name] += unexpected_errors(nbformat.read(path, as_version=4), notebook)
        record_file.write_text(json.dumps(records[path.name]))
        summaries[path.name] = summary_sections(notebook)
        summary_file.write_text(json.dumps(summaries[path.name]))
        digest_file.write_text(digest)
        failed = sum(not r["passed"] for r in records[path.name])
        print(f"seed {seed} {path.name}: {len(records[path.name])} checks, {failed} failed, "
              f"{time.perf_counter() - began:.0f} s", file=sys.stderr, flush=True)
    return records, summaries


def margin(comparison: dict) -> float:
    """Distance to the threshold: positive when the comparison holds (min over a chain)."""
    values, gaps = comparison["values"], []
    for op, left, right in zip(comparison["ops"], values, values[1:]):
        if op in ("<", "<="):
            gaps.append(right - left)
        elif op in (">", ">="):
            gaps.append(left - right)
        else:
            gaps.append(-abs(left - right) if op == "==" else abs(left - right))
    return min(gaps)


def holds(comparison: dict) -> bool:
    """Whether every link of the (chained) comparison holds."""
    check = {"<": float.__lt__, "<=": float.__le__, ">": float.__gt__, ">=": float.__ge__,
             "==": float.__eq__, "!=": float.__ne__}
    values = comparison["values"]
    return all(check[op](a, b) for op, a, b in zip(comparison["ops"], values, values[1:]))


def _number(value: float) -> str:
    return f"{value:.3g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.1e}"


def table(by_seed: dict[int, dict[str, list[dict]]]) -> str:
    """The markdown table of the training-dependent (or failing) asserts, one row per comparison."""
    seeds = sorted(by_seed)
    lines = ["| notebook | cell | comparison | " + " | ".join(f"seed {s}" for s in seeds) + " | smallest margin |",
             "|---|---|---|" + "---|" * len(seeds) + "---:|"]
    notebooks = sorted({name for records in by_seed.values() for name in records})
    for name in notebooks:
        keys = []
        for seed in seeds:
            for record in by_seed[seed].get(name, []):
                if record["key"] not in keys:
                    keys.append(record["key"])
        for key in keys:
            runs = {seed: [r for r in by_seed[seed].get(name, []) if r["key"] == key] for seed in seeds}
            failed = any(not r["passed"] for rs in runs.values() for r in rs)
            if "ignore" not in key and not failed:
                continue
            cell = key.split(":")[0]
            example = next(rs[0] for rs in runs.values() if rs)
            texts = list(dict.fromkeys(c["source"] for rs in runs.values() for r in rs for c in r["comparisons"]))
            if not texts:  # nothing numeric to show: say whether it held
                row = [("ok" if all(r["passed"] for r in runs[s]) else "**failed**") if runs[s] else "-" for s in seeds]
                lines.append(f"| {name} | {cell} | `{example['source']}` | " + " | ".join(row) + " | |")
                continue
            for text in texts:
                cells, margins = [], []
                for seed in seeds:
                    found = [c for r in runs[seed] for c in r["comparisons"] if c["source"] == text]
                    if not found:
                        cells.append("-")
                        continue
                    worst = min(found, key=margin)
                    margins.append(margin(worst))
                    shown = " ".join(f"{_number(v)} {op}" for v, op in zip(worst["values"], worst["ops"]))
                    shown += f" {_number(worst['values'][-1])}"
                    cells.append(shown if holds(worst) else f"**{shown}**")
                equality = all(op in ("==", "!=") for r in runs.values() for x in r for c in x["comparisons"]
                               if c["source"] == text for op in c["ops"])
                smallest = _number(min(margins)) if margins and not equality else ""
                lines.append(f"| {name} | {cell} | `{text}` | " + " | ".join(cells) + f" | {smallest} |")
    return "\n".join(lines)


def summary_tables(by_seed: dict[int, dict[str, list[str]]]) -> str:
    """The notebooks' reproduction tables, one column per seed (tables equal for every seed are left out)."""
    seeds = sorted(by_seed)
    parts = []
    for name in sorted({n for summaries in by_seed.values() for n in summaries}):
        sections = [by_seed[s].get(name, []) for s in seeds]
        for index in range(max(len(found) for found in sections)):
            texts = [found[index] if index < len(found) else "" for found in sections]
            if len(set(texts)) == 1:
                continue  # no training in it (EfficientNet-Lite0's photos)
            rows = [dict(_rows(text)) for text in texts]
            title = next((line for line in texts[0].splitlines() if line.startswith("#")), name)
            parts += [f"### {name}: {title.lstrip('# ')}", "",
                      "| measure | " + " | ".join(f"seed {s}" for s in seeds) + " |",
                      "|---|" + "---:|" * len(seeds)]
            for measure in rows[0]:
                parts.append(f"| {measure} | " + " | ".join(r.get(measure, "-") for r in rows) + " |")
            parts.append("")
    return "\n".join(parts)


def _rows(markdown: str) -> list[tuple[str, str]]:
    """(measure, value) of each body row of the markdown table in ``markdown``: the second cell,
    with the third in brackets where there is one (the 95 % interval of an interval table)."""
    rows = []
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 2:
            continue
        if set(cells[0]) <= set("-: "):  # the separator: the row before it was the header
            rows = rows[:-1]
            continue
        rows.append((cells[0], f"{cells[1]} [{cells[2]}]" if len(cells) > 2 and cells[2] else cells[1]))
    return rows


def zoo_table(seeds: list[int]) -> str:
    """Each zoo model's test accuracy / pointing game (1,000 test scenes of its seed) and training time."""
    lines = ["| model | " + " | ".join(f"seed {s}" for s in seeds) + " | range |",
             "|---|" + "---|" * len(seeds) + "---|"]
    for name in zoo.SHAPES_MODELS:
        found = []
        for seed in seeds:
            path = seed_home(seed) / zoo.shapes_weights_path(name).relative_to(zoo.camkit_home()).with_suffix(".json")
            found.append(json.loads(path.read_text()) if path.is_file() else None)
        cells = [f"{m['test_accuracy']:.1%} / {m['pointing_game']:.1%} ({m['wall_seconds']:.0f} s)" if m else "-"
                 for m in found]
        known = [m for m in found if m]
        spread = ""
        if known:
            accuracy = [m["test_accuracy"] for m in known]
            pointing = [m["pointing_game"] for m in known]
            spread = f"{min(accuracy):.1%}-{max(accuracy):.1%} / {min(pointing):.1%}-{max(pointing):.1%}"
        lines.append(f"| `{name}` | " + " | ".join(cells) + f" | {spread} |")
    return "\n".join(lines)


def document(by_seed: dict[int, dict[str, list[dict]]], summaries: dict[int, dict[str, list[str]]]) -> str:
    """docs/seeds.md: where it was measured, the zoo per seed, the reproduction tables per seed,
    every training-dependent claim."""
    import platform

    import torch

    seeds = sorted(by_seed)
    return "\n".join([
        "# How much the notebooks' numbers move with the training seed",
        "",
        f"Written by `make seeds` (`data_scripts/check_seeds.py`) on {time.strftime('%Y-%m-%d')}, "
        f"{platform.machine()} with {os.cpu_count()} cores, torch {torch.__version__}; seeds {', '.join(map(str, seeds))}. "
        "The zoo of seed 0 is the one `make zoo` builds; the others differ in the initialisation and in the "
        "training scenes (`python data_scripts/train_zoo.py --seed N`).",
        "",
        "## The zoo: test accuracy / Grad-CAM pointing game (1,000 test scenes of the seed), wall seconds",
        "",
        zoo_table(seeds),
        "",
        "## The reproduction tables, per seed",
        "",
        "The tables that `make results` gathers into `results/summary.md`, one column per seed.",
        "",
        summary_tables(summaries),
        "## Every training-dependent assert of the notebooks",
        "",
        "One row per comparison inside an assert of a cell whose output depends on the weights (or of any "
        "assert that failed for some seed), with the numbers each seed gave; inside a loop, the row shows the "
        "loop's closest call. The margin is the smallest distance to the threshold over the seeds "
        "(negative: the claim failed for some seed, in bold).",
        "",
        table(by_seed),
        "",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks to run (default: all in notebooks/)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--records", type=Path, default=ROOT / "results" / "seeds",
                        help="where the per-seed records go (default: results/seeds)")
    parser.add_argument("--reuse", action="store_true",
                        help="keep the records of earlier runs of the same code cells")
    parser.add_argument("--table", type=Path, help="write the markdown page here (default: print it)")
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.notebooks] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    args.records.mkdir(parents=True, exist_ok=True)
    by_seed, summaries = {}, {}
    for seed in args.seeds:
        by_seed[seed], summaries[seed] = record_seed(seed, paths, args.records, args.reuse)
    text = document(by_seed, summaries)
    if args.table:
        args.table.write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    failed = [(seed, name) for seed, records in by_seed.items() for name, rs in records.items()
              if any(not r["passed"] for r in rs)]
    for seed, name in failed:
        print(f"seed {seed}: {name} has failing asserts", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
