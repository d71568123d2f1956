"""Score methods with every metric on ShapeScenes, in one process or shared out under torchrun.

    python data_scripts/evaluate.py resnet18 --scenes 200
    torchrun --nproc_per_node 2 data_scripts/evaluate.py resnet18 --scenes 1000 --out results/evaluate.pt

Each test scene (one class shape among two distractors) is explained for its class by each
method (default: Grad-CAM, Grad-CAM++, LayerCAM at the model's default layer) and scored with
:func:`camkit.evaluation.metric_scores`: against the evidence mask (pointing game, energy
pointing game, relevance mass and rank accuracy) and by asking the model (Average Drop, Increase
in Confidence, deletion and insertion areas, ROAD).  Under ``torchrun`` every process scores its
share of the batches (:func:`camkit.evaluation.sharded_scores`, gloo on CPUs) and the result
equals one process's.  The first process prints the means with 95 % intervals (Wilson for the
pointing game, bootstrap for the rest) and saves the per-scene scores with ``--out``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from camkit import zoo  # noqa: E402
from camkit.evaluation import map_function, metric_scores, process_group, sharded_scores  # noqa: E402
from camkit.evaluation.metrics import ROAD_FRACTIONS, bootstrap_interval, proportion_interval  # noqa: E402
from camkit.zoo.shapes import ShapeScenes, to_input  # noqa: E402

DEFAULT_METHODS = ("gradcam", "gradcampp", "layercam")


class EvidenceScenes(Dataset):
    """ShapeScenes test scenes as ``(x, label, evidence mask)``."""

    def __init__(self, scenes: ShapeScenes) -> None:
        self.scenes = scenes

    def __len__(self) -> int:
        return len(self.scenes)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, torch.Tensor]:
        scene = self.scenes.scene(index)
        return to_input(scene.image), int(scene.labels[0]), torch.from_numpy(scene.evidence)


def summary(scores: dict[str, torch.Tensor]) -> str:
    """A markdown table: one row per method, one column per metric, mean [95 % interval]."""
    methods = list(dict.fromkeys(key.split(": ")[0] for key in scores if ": " in key))
    measures = list(dict.fromkeys(key.split(": ")[1] for key in scores if ": " in key))
    lines = ["| method | " + " | ".join(measures) + " |", "|---|" + "---|" * len(measures)]
    for method in methods:
        cells = []
        for measure in measures:
            values = scores[f"{method}: {measure}"]
            mean, low, high = proportion_interval(values.bool()) if measure == "pointing game" else bootstrap_interval(values)
            cells.append(f"{mean:.3g} [{low:.3g}, {high:.3g}]")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", choices=[name for name in zoo.SHAPES_MODELS if name in zoo.CLASSIFIERS])
    parser.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS), help="registry names (camkit.available_methods())")
    parser.add_argument("--scenes", type=int, default=200, help="test scenes scored (default 200)")
    parser.add_argument("--batch-size", type=int, default=25)
    parser.add_argument("--steps", type=int, default=16, help="deletion / insertion steps (default 16)")
    parser.add_argument("--fractions", type=float, nargs="+", default=list(ROAD_FRACTIONS),
                        help="ROAD's removed fractions (default 0.1 ... 0.9)")
    parser.add_argument("--weights", choices=("shapes", "random"), default="shapes",
                        help="the zoo's trained weights, or the architecture with seeded random weights")
    parser.add_argument("--seed", type=int, default=0, help="the random weights' seed (default 0)")
    parser.add_argument("--out", type=Path, help="save the per-scene scores here (torch.save)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    try:
        torch.manual_seed(args.seed)
        loaded = zoo.load(args.model, weights=args.weights)
        model = loaded.model
        layer = loaded.layer
        methods = {name: map_function(name, model, layer) for name in args.methods}
        scenes = EvidenceScenes(ShapeScenes("test", size=zoo.SHAPES_INPUT_SIZES[args.model], length=args.scenes))

        def score(batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
            x, labels, masks = batch
            with torch.no_grad():
                correct = (model(x).argmax(dim=1) == labels).double()
            scores = {"correct": correct}
            for name, method in methods.items():
                maps = method(x, labels.tolist())
                for measure, values in metric_scores(model, x, labels, maps, masks, args.steps, args.fractions).items():
                    scores[f"{name}: {measure}"] = values
            return scores

        scores = sharded_scores(DataLoader(scenes, batch_size=args.batch_size), score, progress=not args.quiet)
        rank, world = process_group()
        if rank == 0:
            accuracy = scores["correct"].mean().item()
            print(f"{args.model} ({args.weights} weights, layer {layer}), {len(scores['correct'])} test scenes, "
                  f"{world} process(es); accuracy {accuracy:.1%}\n")
            print(summary(scores))
            if args.out:
                args.out.parent.mkdir(parents=True, exist_ok=True)
                torch.save(scores, args.out)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
