"""Load a script of data_scripts/ as a module, for its tests."""

import importlib.util
from pathlib import Path
from types import ModuleType

SCRIPTS = Path(__file__).resolve().parents[1] / "data_scripts"


def load_script(name: str) -> ModuleType:
    """``data_scripts/<name>.py`` imported fresh."""
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
