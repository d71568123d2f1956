"""Calibrate a zoo recipe on ShapeScenes: train with several seeds, score on the val split only.

    python data_scripts/calibrate.py resnet18 --steps 1000 --seeds 0 1 2

Each seed trains the model from scratch with camkit's training code (the zoo's recipe for the
model, changed by the options given), then scores it on ``--val`` val scenes: accuracy and
Grad-CAM's pointing game at the default layer, beside the class-blind baselines and Grad-CAM of
the same architecture with random weights, each rate with its 95 % Wilson interval.  The test
split is never touched, so that the zoo's reported tables come from scenes no calibration saw.
Every run appends one JSON line to ``--log`` (default ``calibration.jsonl`` in the current
folder); a summary over the seeds (mean and sd) ends the output.  Nothing is cached or saved
as zoo weights.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from camkit.evaluation import rates_table  # noqa: E402
from camkit.zoo.architectures import SHAPES_INPUT_SIZES  # noqa: E402
from camkit.zoo.training import default_config, train  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", choices=list(SHAPES_INPUT_SIZES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds (default 0 1 2)")
    parser.add_argument("--steps", type=int, help="training steps (default: the zoo's recipe)")
    parser.add_argument("--lr", type=float, help="Adam's learning rate (default: the zoo's recipe)")
    parser.add_argument("--size", type=int, help="image side in pixels (default: the model's zoo size)")
    parser.add_argument("--batch-size", type=int, help="scenes per step (default: the zoo's recipe)")
    parser.add_argument("--threads", type=int, help="torch threads while training (default: the zoo's recipe)")
    parser.add_argument("--distractors", type=int, help="distractors per scene (default: ShapeScenes', 2)")
    parser.add_argument("--scale", type=float, nargs=2, metavar=("LOW", "HIGH"),
                        help="shape diameter range as a fraction of the side (default: ShapeScenes')")
    parser.add_argument("--val", type=int, default=500, help="val scenes scored per seed (default 500)")
    parser.add_argument("--save", type=Path, metavar="FOLDER",
                        help="write each seed's trained weights to FOLDER/<model>-seed<seed>.pt (for a closer look)")
    parser.add_argument("--log", type=Path, default=Path("calibration.jsonl"), help="JSON lines appended per run")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser.parse_args(argv)


def recipe(args: argparse.Namespace, seed: int):
    """The zoo's recipe for the model with the options given, scored on val."""
    changes = {"seed": seed, "eval_split": "val", "test_scenes": args.val}
    for option, field in (("steps", "steps"), ("lr", "lr"), ("size", "size"), ("batch_size", "batch_size"),
                          ("threads", "threads")):
        if getattr(args, option) is not None:
            changes[field] = getattr(args, option)
    scenes = {} if args.distractors is None else {"distractors": args.distractors}
    if args.scale:
        scenes["scale"] = tuple(args.scale)
    return default_config(args.model).replace(scenes=scenes, **changes)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    runs = []
    for seed in args.seeds:
        config = recipe(args, seed)
        model, metrics = train(args.model, config, progress=not args.quiet)  # scored on val: see recipe()
        if args.save:
            args.save.mkdir(parents=True, exist_ok=True)
            torch.save(model.state_dict(), args.save / f"{args.model}-seed{seed}.pt")
        print(f"\n{args.model}, seed {seed}, {config.steps} steps, lr {config.lr}, {config.size} px, "
              f"{metrics['train_seconds']:.0f} s training, {args.val} val scenes:\n{rates_table(metrics['table'], args.val)}")
        record = {
            "model": args.model, "seed": seed, "config": metrics["config"],
            "train_seconds": metrics["train_seconds"], "threads": metrics["threads"], "processor": metrics["processor"],
            "val": metrics["table"],
        }
        with args.log.open("a") as log:
            log.write(json.dumps(record) + "\n")
        runs.append(record)
    if len(runs) > 1:
        for name in runs[0]["val"]:
            rates = [run["val"][name][0] for run in runs]
            print(f"{name:<28} mean {statistics.mean(rates):.1%}  sd {statistics.stdev(rates):.1%}  "
                  f"(seeds {', '.join(str(r['seed']) for r in runs)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
