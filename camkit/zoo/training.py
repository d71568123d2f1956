"""Training and scoring the ShapeScenes models of :mod:`camkit.zoo`, deterministically, on a CPU.

``python data_scripts/train_zoo.py`` is a thin command line around :func:`train_and_save`;
:func:`camkit.zoo.load` calls it too when weights are missing.  Each run writes
``<name>.pt`` (the state dict) and ``<name>.json`` (test accuracy, pointing-game hit rate,
seconds, steps, hyperparameters, versions) into :func:`camkit.zoo.shapes_weights_path`'s folder.

Determinism: fixed seeds for the initialisation and the data (every scene has its own seed),
a fixed thread count (``torch.set_num_threads``) and ``torch.use_deterministic_algorithms``.
The same torch build on the same kind of CPU gives the same weights.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import platform
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torchvision
import torch.nn.functional as F
from torch import nn

from ..core.grad_cam import GradCAM
from ..core.progress import progress_bar
from ..evaluation.baselines import random_weights
from ..evaluation.metrics import pointing_tolerance, proportion_interval
from ..evaluation.scoring import pointing_hits, pointing_scores
from ..evaluation.segmentation import mean_iou, pixel_classes, segmentation_hits
from .architectures import ARCHITECTURES, BACKBONES, SHAPES_INPUT_SIZES, fold_batchnorm, shapes_architecture
from .cache import SHAPES_VERSION, shapes_weights_path
from .shapes import SceneBank, ShapeScenes


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of one training run (recorded in the metrics JSON)."""

    steps: int = 800
    batch_size: int = 32
    lr: float = 1e-3  # Adam's (or AdamW's)
    warmup: float = 0.05  # fraction of the steps with a linear warm-up, then cosine decay to 0
    seed: int = 0
    size: int = 96
    test_scenes: int = 1000
    threads: int = 1  # one per training: two train at once on two cores (train_zoo.py --jobs)
    batchnorm: bool = False  # train VGG/AlexNet/SqueezeNet with BatchNorm, folded into the convolutions after
    scenes: dict = field(default_factory=dict)  # ShapeScenes options of training and scoring (e.g. distractors)
    eval_split: str = "test"  # the scenes scored after training ("val" while calibrating a recipe)
    channels_last: bool = True  # train in torch.channels_last memory format (7-30 % faster per step on a CPU)
    optimizer: str = "adam"  # or "adamw" (decoupled weight decay, what vision transformers train with)
    weight_decay: float = 0.0  # AdamW's
    epochs: int = 1  # each training scene is seen this many times: steps * batch_size / epochs distinct scenes

    def replace(self, **changes) -> "TrainConfig":
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


def default_config(name: str) -> TrainConfig:
    """The recipe of each zoo model: Adam, linear warm-up then cosine decay, batch 32, one thread,
    channels-last, at the model's :data:`camkit.zoo.SHAPES_INPUT_SIZES` side, on the default
    :class:`ShapeScenes` (two distractors).

    Calibrated on the val split only (400 scenes, docs/benchmark.md; accuracy / Grad-CAM pointing
    game at the default layer, one line per seed); the test split is what the zoo reports:

    * ``resnet18``, 112 px, 900 steps: 99.2 / 89.0 % (1000 steps: 99.5 / 93.5 %, 97.0 / 90.0 %,
      99.2 / 89.8 %; 800 steps: 92.8-97 % accuracy);
    * ``vgg16`` (trained with BatchNorm, folded afterwards), 64 px, 600 steps, lr 1e-3, seeds
      0 / 1 / 2: 97.5 / 80.8 %, 99.0 / 85.0 %, 99.2 / 86.2 % (400 steps: 94.2 / 83.5 % on seed 0,
      but seeds 1 and 2 reached only 82 % and 53 % test accuracy, docs/seeds.md; 300 steps at lr
      1.5e-3: 46.5 %); its 4 x 4 ``features.29`` misses 85 % on some seeds;
    * ``alexnet`` (BatchNorm, folded), 128 px, 1200 steps: 99.2 / 90.2 % (1600 steps: 99.5 / 91.2 %,
      99.5 / 91.2 %, 99.8 / 87.2 %; at 96 px 79.5 % pointing);
    * ``shufflenet_v2_x1_0``, 144 px, 1500 steps, lr 4e-3: 96.8 / 93.0 % (2000 steps, seed 0:
      100 / 83.2 %);
    * ``squeezenet1_1`` (BatchNorm after every convolution, folded), 112 px, 1200 steps, lr 2e-3:
      99.8 / 13.2 % (without BatchNorm after its class convolution it collapses to one class;
      its last Fire modules' maps do not point at the evidence);
    * ``densenet121`` (the narrow DenseNet-121 of :func:`shapes_architecture`), 800 steps, lr
      2e-3: 99.5 / 92.8 % (600 steps: 86 %).
    * ``vit_mini`` (48 px), AdamW lr 5e-4, weight decay 0.05, 6000 steps over 64 000 scenes seen
      three times: 94.3 / 53.7 % (seed 0), 91.5 / 49.0 % (seed 1); seen twice: 90.8 / 52.0 %
      (seed 1), 94.5 / 54.5 % (seed 2); each scene once (192 000 scenes): 94.7 / 93.0 / 94.2 %
      accuracy on seeds 0 / 1 / 2, but generating that many scenes takes as long as the training
      (about 410 s in all at one thread, against about 300 s).  4000 steps: 85-88 %; plain 8 px
      patches without the convolutional stem stay near chance.  On seeds 0 / 2 LayerCAM at the
      same layer pointed 82.3 / 67.7 %, Grad-CAM at ``conv_proj`` 19 / 31 % (edges 32 %, centre 19 %).
    * ``fcn_resnet18`` (112 px), from the zoo's ResNet18 of the same seed, batch 16, 600 steps,
      lr 1e-3 (no warm-up in the calibration): mean IoU 0.63 / 0.73 / 0.74 after 200 / 400 / 600
      steps (seed 1's scenes); here "accuracy" is the share of objects whose pixels it labels
      mostly right and the pointing game scores Grad-CAM of :class:`camkit.targets.SegmentationRegion`.
    """
    recipes = {
        "resnet18": TrainConfig(steps=900, lr=1e-3),
        "vgg16": TrainConfig(steps=600, lr=1e-3, batchnorm=True),
        "alexnet": TrainConfig(steps=1200, lr=1e-3, batchnorm=True),
        "shufflenet_v2_x1_0": TrainConfig(steps=1500, lr=4e-3),
        "squeezenet1_1": TrainConfig(steps=1200, lr=2e-3, batchnorm=True),
        "densenet121": TrainConfig(steps=800, lr=2e-3),
        "vit_mini": TrainConfig(steps=6000, lr=5e-4, optimizer="adamw", weight_decay=0.05, epochs=3),
        "fcn_resnet18": TrainConfig(steps=600, batch_size=16, lr=1e-3),
    }
    return recipes[name].replace(size=SHAPES_INPUT_SIZES[name])


def _datasets(config: TrainConfig) -> tuple[ShapeScenes, ShapeScenes]:
    train = ShapeScenes("train", size=config.size, length=config.steps * config.batch_size // config.epochs, seed=config.seed,
                        **config.scenes)
    scored = ShapeScenes(config.eval_split, size=config.size, length=config.test_scenes, seed=config.seed,
                         **config.scenes)
    return train, scored


# ------------------------------------------------------------------------------- evaluation
def evaluate(model: nn.Module, layer: str, data: ShapeScenes | SceneBank, count: int | None = None,
             batch_size: int = 50) -> dict[str, float]:
    """Accuracy and pointing-game hit rate of Grad-CAM at ``layer`` on single-object scenes.

    The map explains the true class; a hit is an argmax within :func:`pointing_tolerance` of
    the object's mask.  Returns ``{"accuracy", "pointing", "scenes"}``.
    """
    scores = pointing_scores(model, data, {"pointing": GradCAM(model, layer)}, count, batch_size)
    return {"accuracy": scores["accuracy"], "pointing": scores["pointing"], "scenes": scores["scenes"]}


def benchmark_hits(model: nn.Module, layer: str, data: ShapeScenes | SceneBank, seed: int = 0) -> dict[str, torch.Tensor]:
    """Scene by scene (bool tensors): ``"correct"``, and whether each map points at the evidence:
    ``"Grad-CAM"`` at ``layer``, ``"Grad-CAM, random weights"`` (the same architecture
    re-initialised with ``seed``) and the class-blind baselines (random, centre, edges, and the
    evidence itself as the ceiling).  The zoo's and the calibration's tables come from these."""
    methods = {"Grad-CAM": GradCAM(model, layer), "Grad-CAM, random weights": GradCAM(random_weights(model, seed), layer)}
    return pointing_hits(model, data, methods, baselines=True, seed=seed)


# --------------------------------------------------------------------------------- training
def _learning_rate(config: TrainConfig, step: int) -> float:
    warm = max(1, int(config.warmup * config.steps))
    if step < warm:
        return config.lr * (step + 1) / warm
    progress = (step - warm) / max(1, config.steps - warm)
    return config.lr * 0.5 * (1 + math.cos(math.pi * progress))


@contextlib.contextmanager
def torch_settings(threads: int, seed: int) -> Iterator[None]:
    """Deterministic training settings for the block; torch's thread count, deterministic-algorithms
    flags and global random state are given back as they were, also after an error."""
    saved_threads = torch.get_num_threads()
    saved_deterministic = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    saved_rng = torch.get_rng_state()
    try:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.manual_seed(seed)
        yield
    finally:
        torch.set_num_threads(saved_threads)
        torch.use_deterministic_algorithms(saved_deterministic[0], warn_only=saved_deterministic[1])
        torch.set_rng_state(saved_rng)


def train(name: str, config: TrainConfig | None = None, progress: bool = True, position: int = 0) -> tuple[nn.Module, dict]:
    """Train the ShapeScenes model ``name`` from scratch; returns ``(model in eval mode, metrics)``.
    ``position``: the terminal line of the progress bar (several trainings at once)."""
    config = config or default_config(name)
    with torch_settings(config.threads, config.seed):
        return _train(name, config, progress, position)


def _train(name: str, config: TrainConfig, progress: bool, position: int) -> tuple[nn.Module, dict]:
    wall_began, cpu_began = time.perf_counter(), time.process_time()
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    model = _initial_model(name, config).to(memory_format=memory_format)
    segmentation = ARCHITECTURES[name].segmentation
    train_data, test_data = _datasets(config)
    if len(train_data) % config.batch_size:
        raise ValueError(f"steps * batch_size / epochs = {len(train_data)} scenes is not a whole number of batches of {config.batch_size}.")
    bank = SceneBank(train_data)  # this run's own, room for all its scenes: freed with it (a process-wide one would stay)
    optimizer = _optimizer(model, config)
    seconds = 0.0
    bar = progress_bar(range(config.steps), f"{name} (seed {config.seed})", enabled=progress, position=position)
    for step in bar:
        start = step * config.batch_size % len(train_data)  # epoch after epoch over the same scenes
        x, labels, evidence = bank.batch(start, start + config.batch_size)  # generation is not timed
        x = x.contiguous(memory_format=memory_format)
        began = time.perf_counter()
        model.train()
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(config, step)
        output = model(x)
        if segmentation:  # per pixel: the class object's class, background elsewhere (distractors too)
            loss = F.cross_entropy(output["out"], pixel_classes(labels, evidence))
        else:
            loss = F.cross_entropy(output, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        seconds += time.perf_counter() - began
        if step % 20 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    model.eval().to(memory_format=torch.contiguous_format)  # explained and saved in the default layout
    if config.batchnorm:  # the network that is saved and explained
        model = fold_batchnorm(model, shapes_architecture(name)).eval()
    began = time.perf_counter()
    layer = ARCHITECTURES[name].layer
    metrics = {"name": name}
    with warnings.catch_warnings():  # expected while scoring: how a ViT's tokens are read; random weights' empty maps
        warnings.filterwarnings("ignore", message="camkit reads layer", category=UserWarning)
        warnings.filterwarnings("ignore", message="The score's gradient is zero everywhere", category=UserWarning)
        if segmentation:
            hits, confusion = segmentation_benchmark_hits(model, layer, test_data, config.seed)
            mean, per_class = mean_iou(confusion)
            metrics.update(mean_iou=round(mean, 4), class_iou=[round(v, 4) for v in per_class.tolist()])
        else:
            hits = benchmark_hits(model, layer, test_data, config.seed)
    metrics.update({
        "test_accuracy": hits["correct"].double().mean().item(),  # on config.eval_split's scenes (segmenter: objects labelled right)
        "pointing_game": hits["Grad-CAM"].double().mean().item(),
        "test_scenes": len(hits["correct"]),
        "scored_split": config.eval_split,
        "table": {key: [round(value, 4) for value in proportion_interval(values)] for key, values in hits.items()},
        "pointing_layer": layer,
        "pointing_tolerance_px": pointing_tolerance(config.size),
        "train_seconds": round(seconds, 1),
        "eval_seconds": round(time.perf_counter() - began, 1),
        "wall_seconds": round(time.perf_counter() - wall_began, 1),
        "cpu_seconds": round(time.process_time() - cpu_began, 1),  # all threads; robust to a busy machine
        "steps": config.steps,
        "samples": config.steps * config.batch_size,
        "config": dataclasses.asdict(config),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.platform(),
        "processor": platform.processor() or platform.machine(),
    })
    return model, metrics


def _optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    raise ValueError(f"TrainConfig.optimizer must be 'adam' or 'adamw', got {config.optimizer!r}.")


def _initial_model(name: str, config: TrainConfig) -> nn.Module:
    """The untrained network; a model of :data:`BACKBONES` starts from the trained backbone model of
    the same seed (trained first when the cache lacks it)."""
    model = shapes_architecture(name, batchnorm=config.batchnorm)
    if name in BACKBONES:
        trained = _backbone_weights(BACKBONES[name], config.seed)
        kept = model.backbone.state_dict()  # the stages the segmenter keeps (its getter drops the rest)
        model.backbone.load_state_dict({key: trained[key] for key in kept})
    return model


def _backbone_weights(name: str, seed: int) -> dict[str, torch.Tensor]:
    path = shapes_weights_path(name)
    if not path.is_file():
        print(f"camkit.zoo: training {name} (seed {seed}) first, the backbone it starts from.", file=sys.stderr)
        train_and_save(name, default_config(name).replace(seed=seed))
    cached_seed = json.loads(path.with_suffix(".json").read_text()).get("config", {}).get("seed")
    if cached_seed != seed:
        raise ValueError(f"The cached {name} at {path} was trained with seed {cached_seed}, not {seed}: retrain it "
                         f"(`python data_scripts/train_zoo.py --force --seed {seed} {name}`) or use another CAMKIT_HOME.")
    return torch.load(path, map_location="cpu", weights_only=True)


def segmentation_benchmark_hits(model: nn.Module, layer: str, data: ShapeScenes | SceneBank,
                                seed: int = 0) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """:func:`benchmark_hits` for the segmenter: whether each object is labelled right, the maps of
    ``SegmentationRegion(class)`` (Grad-CAM at ``layer``, of the trained and of random weights) and
    the baselines against the evidence, and the pixels' confusion matrix."""
    methods = {"Grad-CAM": GradCAM(model, layer), "Grad-CAM, random weights": GradCAM(random_weights(model, seed), layer)}
    return segmentation_hits(model, data, methods, baselines=True, seed=seed)


def train_and_save(name: str, config: TrainConfig | None = None, progress: bool = True, position: int = 0) -> dict:
    """Train ``name`` and write its weights and metrics into camkit's cache; returns the metrics.

    Each run sets its own thread count (``config.threads``), so several may run at once in
    separate processes (``train_zoo.py --jobs``) and give the same weights as one after another."""
    model, metrics = train(name, config, progress=progress, position=position)
    metrics["shapes_version"] = SHAPES_VERSION
    path: Path = shapes_weights_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".pt.partial")
    torch.save(model.state_dict(), partial)
    partial.replace(path)  # atomic: a crash never leaves a half-written weights file
    path.with_suffix(".json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"camkit: {name}: test accuracy {metrics['test_accuracy']:.1%}, pointing game "
          f"{metrics['pointing_game']:.1%}, {metrics['train_seconds']:.0f} s -> {path}", file=sys.stderr)
    return metrics
