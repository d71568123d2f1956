"""The README's example runs as printed and writes its picture."""

import os
import re
import warnings
from pathlib import Path

import matplotlib

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_example_runs(tmp_path, monkeypatch):
    matplotlib.use("Agg")
    example = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zoo.load says once which weights it chose
        exec(compile(example, "README.md", "exec"), {})
    picture = tmp_path / "cat_and_coffee.png"
    assert picture.is_file() and os.path.getsize(picture) > 10_000
