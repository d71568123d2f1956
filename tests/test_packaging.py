"""environment.yml installs the same packages as pyproject.toml (runtime and every extra)."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~; \[]", requirement.strip(), maxsplit=1)[0].lower()


def pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements += [r for r in extra if not r.startswith("camkit[") and "python_version <" not in r]
    return {_name(r): r.replace(" ", "") for r in requirements}


def environment_requirements() -> dict[str, str]:
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    return {_name(r): r.replace(" ", "") for r in pip_section if not r.startswith("-e")}


def test_environment_matches_pyproject():
    from_pyproject = pyproject_requirements()
    from_environment = environment_requirements()
    # torch and torchvision are pinned in environment.yml (and by the Makefile) to the builds
    # this project is tested with; pyproject.toml gives the lower bounds.
    pinned = {"torch", "torchvision"}
    assert set(from_environment) == set(from_pyproject)
    for name, requirement in from_pyproject.items():
        if name not in pinned:
            assert from_environment[name] == requirement, name


def test_pinned_torch_matches_the_makefile():
    makefile = (ROOT / "Makefile").read_text()
    for name in ("torch", "torchvision"):
        assert environment_requirements()[name] in makefile


def _requirements_of(extra: str) -> set[str]:
    """The distribution names that ``pip install camkit[extra]`` brings in directly (with the
    extras it names and the core dependencies)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {_name(r) for r in project["dependencies"]}
    for requirement in project["optional-dependencies"][extra]:
        if requirement.startswith("camkit["):
            names |= _requirements_of(requirement[len("camkit["):-1])
        else:
            names.add(_name(requirement))
    return names


def test_every_notebook_import_comes_with_the_notebooks_extra():
    """A learner who installs camkit[notebooks] can run every notebook from its first cell."""
    import ast
    import importlib.metadata
    import sys

    import nbformat
    from IPython.core.inputtransformer2 import TransformerManager

    distributions = importlib.metadata.packages_distributions()
    provided = {name.replace("_", "-") for name in _requirements_of("notebooks")} | {"camkit", "ipython"}  # the kernel's own
    missing = {}
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            for node in ast.walk(ast.parse(TransformerManager().transform_cell(cell.source))):
                modules = ([a.name for a in node.names] if isinstance(node, ast.Import)
                           else [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
                for module in modules:
                    top = module.split(".")[0]
                    if top in sys.stdlib_module_names or top == "camkit":
                        continue
                    names = {d.lower().replace("_", "-") for d in distributions.get(top, [top])}
                    if not names & provided:
                        missing.setdefault(path.name, set()).add(top)
    assert not missing, f"imports the notebooks extra does not install (add them to it in pyproject.toml): {missing}"
