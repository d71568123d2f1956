"""camkit.evaluation.sharded_scores: in one process, and under torchrun with two CPU processes
(gloo) through data_scripts/evaluate.py, whose per-scene scores must equal one process's."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, IterableDataset, TensorDataset

from camkit.evaluation import process_group, sharded_scores

ROOT = Path(__file__).resolve().parents[1]


def test_one_process_scores_every_batch_in_order():
    data = TensorDataset(torch.arange(10.0), torch.arange(10) % 3)
    seen = []

    def score(batch):
        values, labels = batch
        seen.append(values.tolist())
        return {"square": values**2, "label": labels}

    scores = sharded_scores(DataLoader(data, batch_size=4), score, progress=False)
    assert process_group() == (0, 1) and len(seen) == 3  # batches of 4, 4 and 2
    assert scores["square"].tolist() == [v**2 for v in range(10)] and scores["label"].tolist() == [v % 3 for v in range(10)]


def test_an_iterable_data_set_is_refused():
    class Stream(IterableDataset):
        def __iter__(self):
            return iter(range(3))

    with pytest.raises(ValueError, match="map-style data set"):
        sharded_scores(DataLoader(Stream(), batch_size=None), lambda batch: {}, progress=False)


def run(command: list[str], tmp_path: Path) -> None:
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "CAMKIT_HOME": str(tmp_path / "home")}
    done = subprocess.run(command, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def test_two_processes_under_torchrun_give_one_processs_scores(tmp_path):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    if torchrun is None:
        pytest.skip("torchrun is not installed next to this Python")
    script = str(ROOT / "data_scripts" / "evaluate.py")
    options = ["resnet18", "--weights", "random", "--scenes", "6", "--batch-size", "2", "--steps", "2",
               "--fractions", "0.5", "--methods", "gradcam", "gradcampp", "--quiet"]
    run([sys.executable, script, *options, "--out", "one.pt"], tmp_path)
    run([torchrun, "--standalone", "--nproc_per_node", "2", script, *options, "--out", "two.pt"], tmp_path)
    one, two = torch.load(tmp_path / "one.pt"), torch.load(tmp_path / "two.pt")
    assert one.keys() == two.keys() and len(one) == 1 + 2 * 10  # correct, and ten measures per method
    for name in one:
        assert one[name].shape == (6,), name
        torch.testing.assert_close(two[name], one[name], rtol=0, atol=1e-6, msg=name)
