"""data_scripts/calibrate.py: a recipe calibrated on val, never on test."""

from __future__ import annotations

import json

import torch

from camkit.zoo import shapes
from camkit.zoo.architectures import shapes_architecture as architecture

from .scripts import load_script


def test_calibration_scores_val_only_and_logs_every_seed(tmp_path, monkeypatch, capsys):
    splits = []
    original = shapes.ShapeScenes.__init__

    def recording(self, split="train", *args, **kwargs):
        splits.append(split)
        original(self, split, *args, **kwargs)

    monkeypatch.setattr(shapes.ShapeScenes, "__init__", recording)
    log = tmp_path / "runs.jsonl"
    script = load_script("calibrate")
    arguments = ["alexnet", "--seeds", "0", "1", "--steps", "2", "--batch-size", "4", "--size", "48",
                 "--distractors", "2", "--scale", "0.3", "0.45", "--val", "6", "--log", str(log), "--quiet"]
    assert script.main(arguments) == 0
    assert "test" not in splits and "val" in splits
    runs = [json.loads(line) for line in log.read_text().splitlines()]
    assert [run["seed"] for run in runs] == [0, 1]
    config = runs[0]["config"]
    assert config["steps"] == 2 and config["size"] == 48 and config["eval_split"] == "val"
    assert config["scenes"] == {"distractors": 2, "scale": [0.3, 0.45]}
    expected = {"correct", "Grad-CAM", "Grad-CAM, random weights", "random", "centre", "edges", "evidence"}
    assert set(runs[0]["val"]) == expected
    rate, low, high = runs[0]["val"]["evidence"]
    assert rate == 1.0 and low < 1.0 == high  # the ceiling, with its Wilson interval on 6 scenes
    output = capsys.readouterr().out
    assert "| pointing game, Grad-CAM, random weights |" in output and "sd" in output


def test_options_change_the_recipe_and_nothing_else():
    script = load_script("calibrate")
    config = script.recipe(script.parse_args(["alexnet", "--threads", "2", "--steps", "7"]), seed=4)
    expected = script.default_config("alexnet").replace(threads=2, steps=7, seed=4, eval_split="val", test_scenes=500)
    assert config == expected


def test_channels_last_training_saves_weights_in_the_default_layout(tmp_path):
    script = load_script("calibrate")
    log, folder = tmp_path / "runs.jsonl", tmp_path / "weights"
    arguments = ["alexnet", "--seeds", "3", "--steps", "2", "--batch-size", "4", "--size", "48", "--val", "4",
                 "--save", str(folder), "--log", str(log), "--quiet"]
    assert script.main(arguments) == 0
    assert json.loads(log.read_text())["config"]["channels_last"] is True
    state = torch.load(folder / "alexnet-seed3.pt")
    convolutions = [tensor for tensor in state.values() if tensor.dim() == 4]
    assert convolutions and all(tensor.is_contiguous() for tensor in convolutions)
    model = architecture("alexnet")
    model.load_state_dict(state)  # the plain layout: BatchNorm folded, names as torchvision's
