"""Scores over a whole data set, sharded across processes (``torch.distributed``).

A table like the papers' (50,000 ImageNet validation images, a dozen methods, several metrics)
outgrows one process.  :func:`sharded_scores` runs a score function over a ``DataLoader`` in
every process of an initialised process group (``torchrun``; gloo on CPUs, nccl on GPUs): process
r of W takes the loader's batches r, r + W, r + 2W, ..., and the per-sample scores of all
processes are gathered and put back in the loader's order.  The batches are the loader's own, so
each sample is scored in the same company as in one process, and the result equals one
process's.  Without a process group it is that one process.

    torchrun --nproc_per_node 2 data_scripts/evaluate.py resnet18 --scenes 1000
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from ..core.progress import progress_bar


def process_group() -> tuple[int, int]:
    """``(rank, world size)`` of this process: ``(0, 1)`` without an initialised process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def sharded_scores(loader: DataLoader, score: Callable[[Any], Mapping[str, torch.Tensor]],
                   progress: bool = True) -> dict[str, torch.Tensor]:
    """``{name: (N,) tensor}``: ``score(batch)`` over every batch of ``loader``, in its order, the
    batches shared out over the process group (every process returns the whole result).

    ``score`` returns one value per sample of the batch under each name.  ``loader`` must have a
    batch sampler (a map-style data set), so that its batches can be shared out unchanged.
    """
    if loader.batch_sampler is None:
        raise ValueError("sharded_scores needs a DataLoader over a map-style data set with batch_size set; "
                         "an iterable data set cannot be shared out batch by batch.")
    rank, world = process_group()
    batches = list(loader.batch_sampler)
    mine = DataLoader(loader.dataset, batch_sampler=batches[rank::world], num_workers=loader.num_workers,
                      collate_fn=loader.collate_fn, pin_memory=loader.pin_memory)
    scored = []
    for offset, batch in enumerate(progress_bar(mine, f"scoring (process {rank + 1} of {world})", enabled=progress,
                                                position=rank)):
        values = {name: value.detach().cpu() for name, value in score(batch).items()}
        scored.append((rank + offset * world, values))
    if world > 1:
        parts: list[list | None] = [None] * world
        dist.all_gather_object(parts, scored)
        scored = [item for part in parts for item in part]
    if not scored:
        raise ValueError("the DataLoader gave no batches to score.")
    scored.sort(key=lambda item: item[0])
    return {name: torch.cat([values[name] for _, values in scored]) for name in scored[0][1]}
