"""data_scripts/train_zoo.py's seeds and the training progress outside a terminal."""

from __future__ import annotations

import io
import json

import pytest

from camkit import zoo
from camkit.core.progress import progress_bar
from camkit.zoo import training

from .scripts import load_script


def test_a_zoo_cached_with_another_seed_is_not_taken_for_this_one(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CAMKIT_HOME", str(tmp_path))
    path = zoo.shapes_weights_path("alexnet")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"weights")
    path.with_suffix(".json").write_text(json.dumps({"test_accuracy": 0.99, "config": {"seed": 0}}))
    script = load_script("train_zoo")
    assert script.main(["alexnet", "--seed", "0"]) == 0  # the same seed: cached, nothing trained
    assert "alexnet: cached" in capsys.readouterr().err
    with pytest.raises(SystemExit) as raised:
        script.main(["alexnet", "--seed", "1"])
    assert raised.value.code == 2
    message = capsys.readouterr().err
    assert "with seed 0, not 1" in message and "--force" in message and "CAMKIT_HOME" in message


def test_the_seed_reaches_the_recipe(monkeypatch, tmp_path):
    monkeypatch.setenv("CAMKIT_HOME", str(tmp_path))
    seen = {}
    script = load_script("train_zoo")
    monkeypatch.setattr(script, "train_and_save", lambda name, config, progress: seen.setdefault(name, config) and {})
    assert script.main(["alexnet", "resnet18", "--seed", "3", "--quiet"]) == 0
    assert {name: config.seed for name, config in seen.items()} == {"alexnet": 3, "resnet18": 3}
    assert seen["alexnet"].replace(seed=0) == training.default_config("alexnet")  # nothing else changed


def test_progress_outside_a_terminal_is_one_line_per_refresh(monkeypatch):
    log = io.StringIO()
    monkeypatch.setattr("sys.stderr", log)
    for _ in progress_bar(range(5), "demo"):
        pass
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and lines
    assert lines[-1].startswith("demo") and "5/5" in lines[-1]
