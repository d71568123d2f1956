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
