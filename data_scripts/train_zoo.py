"""Train camkit's offline model zoo on ShapeScenes (CPU, deterministic, minutes).

    python data_scripts/train_zoo.py                 # the models not cached yet
    python data_scripts/train_zoo.py --force vgg16   # retrain one
    CAMKIT_HOME=/tmp/zoo python data_scripts/train_zoo.py --seed 1   # another training run
    python data_scripts/train_zoo.py --jobs 2        # two models at once, in two processes

``--jobs`` trains several models at once, each in its own process with its recipe's thread count
(``TrainConfig.threads``), so the weights are the same as one after another.  The default fills
the machine's cores (cores // threads); the longest trainings start first.
``--seed`` changes the initialisation and the training scenes (the zoo's default is seed 0);
the notebooks' claims are checked against zoos trained with several seeds
(``docs/seeds.md``).

Weights and a JSON of metrics per model go to ``$CAMKIT_HOME/shapes-v<N>/`` (default
``~/.cache/camkit``).  The recipes live in :func:`camkit.zoo.training.default_config`; their
calibration is summarised there.  Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from camkit import zoo  # noqa: E402
from camkit.zoo.architectures import BACKBONES  # noqa: E402
from camkit.zoo.training import TrainConfig, default_config, train_and_save  # noqa: E402

MEASURED_WALL_SECONDS = {"vgg16": 761, "resnet18": 501, "shufflenet_v2_x1_0": 394, "densenet121": 357,
                         "vit_mini": 295, "alexnet": 257, "squeezenet1_1": 211, "fcn_resnet18": 132}
"""Each model's training, data and scoring at one thread with another training on the second core
(measured in the clean-clone `make test` of 2026-12-01, two at a time on a 2-core AMD EPYC with
AVX-512: the whole zoo took 1513 s); they order the work, longest first, and give the estimate
printed before training."""


def default_jobs(configs: list[TrainConfig]) -> int:
    """As many trainings at once as the cores this process may use hold (at least one)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(len(configs), cores // max(config.threads for config in configs)))


def longest_first(names: list[str]) -> list[str]:
    """``names`` in the order they start training: longest :data:`MEASURED_WALL_SECONDS` first."""
    return sorted(names, key=lambda name: -MEASURED_WALL_SECONDS.get(name, 0))


def estimated_seconds(names: list[str], jobs: int) -> float:
    """The wall time of training ``names`` longest first, ``jobs`` at a time, by :data:`MEASURED_WALL_SECONDS`:
    each model goes to the worker that frees first."""
    finish = [0.0] * max(1, min(jobs, len(names)))
    for name in longest_first(names):
        finish[finish.index(min(finish))] += MEASURED_WALL_SECONDS[name]
    return max(finish)


def backbones_first(names: list[str]) -> list[str]:
    """``names`` with each model of :data:`BACKBONES` after the backbone it starts from."""
    ordered = [name for name in names if name not in BACKBONES]
    return ordered + [name for name in names if name in BACKBONES]


def train_all(names: list[str], configs: list[TrainConfig], jobs: int, progress: bool) -> dict[str, dict]:
    """Train and save each model (longest first when several run at once, a model of
    :data:`BACKBONES` once its backbone is saved); returns their metrics."""
    config_of = dict(zip(names, configs))
    if jobs <= 1:
        return {name: train_and_save(name, config_of[name], progress=progress) for name in backbones_first(names)}
    context = multiprocessing.get_context("spawn")  # a fresh interpreter per worker: no forked torch threads
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures, waiting = {}, longest_first(names)

        def ready(name: str) -> bool:  # its backbone (if any) is cached, or trained and saved by now
            backbone = BACKBONES.get(name)
            return backbone not in waiting and (backbone not in futures or futures[backbone].done())

        try:
            while waiting:
                for name in [n for n in waiting if ready(n)]:
                    futures[name] = pool.submit(train_and_save, name, config_of[name], progress, len(futures) % jobs)
                    waiting.remove(name)
                if waiting:  # a model waits for its backbone
                    done, _ = wait([futures[BACKBONES[n]] for n in waiting], return_when=FIRST_COMPLETED)
                    for future in done:
                        future.result()  # a failed backbone stops here, with its error
            return {name: futures[name].result() for name in names}
        except BaseException:
            pool.shutdown(cancel_futures=True)  # what has not started does not start; the error is reported
            raise


def recipe_changes(cached: dict, config: TrainConfig) -> str:
    """What differs between a cached model's recipe (its metrics' ``config``) and ``config``, as
    ``"steps 400 -> 600"``; empty when they agree.  A zoo cached before a recipe changed is retrained,
    not taken for the new one (a warm cache once hid a recipe that did not reproduce)."""
    wanted = dataclasses.asdict(config)
    defaults = dataclasses.asdict(TrainConfig())  # a field added later, left at its default, changes no recipe
    return ", ".join(f"{key} {cached.get(key, 'unknown')} -> {value}" for key, value in wanted.items()
                     if cached.get(key, defaults[key]) != value)


def main(argv: list[str] | None = None) -> int:
    """Train the requested (default: all missing) ShapeScenes models; prints a summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", metavar="MODEL",
                        help=f"models to train (default: all of {', '.join(zoo.SHAPES_MODELS)})")
    parser.add_argument("--force", action="store_true", help="retrain even when weights are cached")
    parser.add_argument("--seed", type=int, default=0,
                        help="training seed: initialisation and training scenes (default: 0, the zoo's)")
    parser.add_argument("--jobs", type=int, help="models trained at once, one process each (default: cores // threads)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if args.jobs is not None and args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    names = args.models or list(zoo.SHAPES_MODELS)
    unknown = [n for n in names if n not in zoo.SHAPES_MODELS]
    if unknown:
        parser.error(f"no shapes model {', '.join(unknown)}; choose from {', '.join(zoo.SHAPES_MODELS)}")
    configs = {name: default_config(name).replace(seed=args.seed) for name in names}
    summary, missing = {}, []
    for name in names:
        path = zoo.shapes_weights_path(name)
        if args.force or not path.is_file():
            missing.append(name)
            continue
        metrics_file = path.with_suffix(".json")
        cached = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
        cached_seed = cached.get("config", {}).get("seed", args.seed)
        if cached_seed != args.seed:
            parser.error(f"{name} is cached at {path} with seed {cached_seed}, not {args.seed}: "
                         "use --force to replace it, or another CAMKIT_HOME")
        changes = recipe_changes(cached.get("config", {}), configs[name])
        if changes:
            print(f"{name}: cached at {path} with another recipe ({changes}): retraining", file=sys.stderr)
            missing.append(name)
        else:
            print(f"{name}: cached at {path} (use --force to retrain)", file=sys.stderr)
            summary[name] = cached
    jobs = args.jobs or (default_jobs([configs[name] for name in missing]) if missing else 1)
    if missing:
        estimate = estimated_seconds(missing, jobs) / 60
        print(f"Training {', '.join(missing)} (seed {args.seed}, {jobs} at once): about {estimate:.0f} minutes on a "
              "2-core CPU (more on a slower or busy one); progress below.", file=sys.stderr, flush=True)
    began = time.perf_counter()
    summary.update(train_all(missing, [configs[name] for name in missing], jobs, progress=not args.quiet))
    summary = {name: summary[name] for name in names}
    total = time.perf_counter() - began
    print("\n" + markdown_table(summary))
    print(f"seed {args.seed}; total {total:.0f} s; weights in {zoo.shapes_weights_path(names[0]).parent}")
    return 0


COLUMNS = {"correct": "accuracy", "Grad-CAM": "Grad-CAM", "Grad-CAM, random weights": "random weights",
           "edges": "edges", "centre": "centre", "random": "random"}


def markdown_table(summary: dict[str, dict]) -> str:
    """The zoo's test numbers: accuracy and the pointing game of Grad-CAM at the default layer,
    of Grad-CAM with random weights and of the class-blind baselines, each rate with its 95 %
    Wilson interval, and each model's wall time (training, scene generation, scoring)."""
    rows = ["| model | scenes | " + " | ".join(COLUMNS.values()) + " | wall |",
            "|---|---:|" + "---|" * len(COLUMNS) + "---:|"]
    for name, metrics in summary.items():
        table = metrics.get("table", {})
        cells = [f"{table[key][0]:.1%} [{table[key][1]:.1%}, {table[key][2]:.1%}]" if key in table else "?" for key in COLUMNS]
        wall = metrics.get("wall_seconds")
        rows.append(f"| {name} | {metrics.get('test_scenes', '?')} | " + " | ".join(cells)
                    + f" | {f'{wall / 60:.1f} min' if wall else '?'} |")
    return "\n".join(rows)


if __name__ == "__main__":
    raise SystemExit(main())
