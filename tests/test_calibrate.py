"""data_scripts/calibrate.py: a recipe calibrated on val, never on test."""

from __future__ import annotations

import json

from camkit.zoo import shapes

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

