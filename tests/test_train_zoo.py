"""data_scripts/train_zoo.py's seeds and the training progress outside a terminal."""

from __future__ import annotations

import dataclasses
import io
import json

import pytest
import torch

from camkit import zoo
from camkit.core.progress import progress_bar
from camkit.zoo import training

from .scripts import load_script


def test_a_zoo_cached_with_another_seed_is_not_taken_for_this_one(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CAMKIT_HOME", str(tmp_path))
    path = zoo.shapes_weights_path("alexnet")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"weights")
    recipe = dataclasses.asdict(training.default_config("alexnet"))
    path.with_suffix(".json").write_text(json.dumps({"test_accuracy": 0.99, "config": recipe}))
    script = load_script("train_zoo")
    assert script.main(["alexnet", "--seed", "0"]) == 0  # the same seed: cached, nothing trained
    assert "alexnet: cached" in capsys.readouterr().err
    with pytest.raises(SystemExit) as raised:
        script.main(["alexnet", "--seed", "1"])
    assert raised.value.code == 2
    message = capsys.readouterr().err
    assert "with seed 0, not 1" in message and "--force" in message and "CAMKIT_HOME" in message


def test_a_model_cached_with_another_recipe_is_retrained(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CAMKIT_HOME", str(tmp_path))
    path = zoo.shapes_weights_path("vgg16")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"weights")
    old_recipe = dataclasses.asdict(training.default_config("vgg16").replace(steps=400))
    path.with_suffix(".json").write_text(json.dumps({"config": old_recipe}))
    trained = []
    script = load_script("train_zoo")
    monkeypatch.setattr(script, "train_and_save", lambda name, config, progress: trained.append(config) or {})
    assert script.main(["vgg16", "--jobs", "1", "--quiet"]) == 0
    assert trained == [training.default_config("vgg16")]
    steps = training.default_config("vgg16").steps
    assert f"vgg16: cached at {path} with another recipe (steps 400 -> {steps}): retraining" in capsys.readouterr().err


def test_the_seed_reaches_the_recipe(monkeypatch, tmp_path):
    monkeypatch.setenv("CAMKIT_HOME", str(tmp_path))
    seen = {}
    script = load_script("train_zoo")
    monkeypatch.setattr(script, "train_and_save", lambda name, config, progress: seen.setdefault(name, config) and {})
    assert script.main(["alexnet", "resnet18", "--seed", "3", "--jobs", "1", "--quiet"]) == 0
    assert {name: config.seed for name, config in seen.items()} == {"alexnet": 3, "resnet18": 3}
    assert seen["alexnet"].replace(seed=0) == training.default_config("alexnet")  # nothing else changed


def test_two_jobs_train_the_same_weights_as_one_after_another(tmp_path, monkeypatch):
    script = load_script("train_zoo")

    def tiny(name):
        return training.default_config(name).replace(steps=2, batch_size=4, size=48, test_scenes=4, threads=1)

    monkeypatch.setattr(script, "default_config", tiny)
    weights, metrics = {}, {}
    for jobs in ("1", "2"):  # "2": two worker processes, which see the tiny recipes the parent hands them
        monkeypatch.setenv("CAMKIT_HOME", str(tmp_path / jobs))
        assert script.main(["alexnet", "resnet18", "--jobs", jobs, "--quiet"]) == 0
        for name in ("alexnet", "resnet18"):
            path = zoo.shapes_weights_path(name)
            weights[jobs, name] = torch.load(path)
            metrics[jobs, name] = json.loads(path.with_suffix(".json").read_text())
    for name in ("alexnet", "resnet18"):
        assert metrics["2", name]["steps"] == 2 and metrics["2", name]["threads"] == 1
        assert weights["1", name].keys() == weights["2", name].keys()
        assert all(torch.equal(weights["1", name][key], weights["2", name][key]) for key in weights["1", name])


def test_the_segmenter_starts_from_its_backbone_of_the_same_seed(tmp_path, monkeypatch, capfd):
    """Two at a time, the segmenter waits for the ResNet18 it starts from (listed first or not);
    were it started before, its worker would train a ResNet18 of its own first and say so."""
    script = load_script("train_zoo")

    def tiny(name):
        return training.default_config(name).replace(steps=2, batch_size=4, size=48, test_scenes=4, epochs=1, threads=1)

    monkeypatch.setattr(script, "default_config", tiny)
    monkeypatch.setenv("CAMKIT_HOME", str(tmp_path))
    assert script.main(["fcn_resnet18", "resnet18", "--jobs", "2", "--quiet"]) == 0
    assert "the backbone it starts from" not in capfd.readouterr().err
    metrics = json.loads(zoo.shapes_weights_path("fcn_resnet18").with_suffix(".json").read_text())
    assert 0 <= metrics["mean_iou"] <= 1 and len(metrics["class_iou"]) == 7 and "Grad-CAM" in metrics["table"]
    # a backbone of another seed is refused, with the fix
    with pytest.raises(ValueError, match=r"trained with seed 0, not 1.*--force --seed 1 resnet18"):
        training.train("fcn_resnet18", tiny("fcn_resnet18").replace(seed=1), progress=False)


def test_a_field_added_to_the_recipe_at_its_default_changes_no_cached_recipe():
    script = load_script("train_zoo")
    recipe = dataclasses.asdict(training.default_config("alexnet"))
    older = {key: value for key, value in recipe.items() if key not in ("optimizer", "weight_decay", "epochs")}
    assert script.recipe_changes(older, training.default_config("alexnet")) == ""
    assert script.recipe_changes(older, training.default_config("alexnet").replace(epochs=2)) == "epochs unknown -> 2"


def test_the_summary_table_gives_every_rate_its_interval():
    script = load_script("train_zoo")
    table = {"correct": [0.99, 0.98, 0.995], "Grad-CAM": [0.9, 0.88, 0.92], "edges": [0.33, 0.3, 0.36]}
    lines = script.markdown_table({"alexnet": {"table": table, "test_scenes": 1000, "wall_seconds": 600}}).splitlines()
    assert lines[0].startswith("| model | scenes | accuracy | Grad-CAM | random weights | edges |")
    assert lines[2].startswith("| alexnet | 1000 | 99.0% [98.0%, 99.5%] | 90.0% [88.0%, 92.0%] | ? | 33.0% [30.0%, 36.0%] |")
    assert lines[2].endswith("| 10.0 min |")


def test_the_estimate_gives_each_model_to_the_worker_that_frees_first(monkeypatch):
    script = load_script("train_zoo")
    monkeypatch.setattr(script, "MEASURED_WALL_SECONDS", {"a": 10, "b": 8, "c": 5, "d": 4})
    assert script.estimated_seconds(["a", "b", "c", "d"], jobs=2) == 14  # a then d; b then c (13)
    assert script.estimated_seconds(["a", "b", "c", "d"], jobs=1) == 27
    assert script.estimated_seconds(["c"], jobs=2) == 5
    assert script.longest_first(["c", "a", "unmeasured", "b"]) == ["a", "b", "c", "unmeasured"]


def test_jobs_below_one_are_refused(capsys):
    with pytest.raises(SystemExit):
        load_script("train_zoo").main(["alexnet", "--jobs", "0"])
    assert "--jobs must be at least 1" in capsys.readouterr().err


def test_progress_outside_a_terminal_is_one_line_per_refresh(monkeypatch):
    log = io.StringIO()
    monkeypatch.setattr("sys.stderr", log)
    for _ in progress_bar(range(5), "demo"):
        pass
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and lines
    assert lines[-1].startswith("demo") and "5/5" in lines[-1]
