"""The model randomisation sanity check: Spearman and SSIM against scipy and scikit-image,
cascading randomisation on a tiny model (the model and torch's generator left as they were)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from camkit.evaluation import metrics

scipy_stats = pytest.importorskip("scipy.stats")
skimage_metrics = pytest.importorskip("skimage.metrics")


def test_spearman_correlation_equals_scipys_with_and_without_ties():
    generator = torch.Generator().manual_seed(0)
    a, b = torch.rand(3, 9, 9, generator=generator), torch.rand(3, 9, 9, generator=generator)
    a[1] = (a[1] * 4).floor()  # many ties
    b[2] = a[2] ** 3 + 0.01 * b[2]  # nearly monotone: close to 1
    ours = metrics.spearman_correlation(a, b)
    theirs = [scipy_stats.spearmanr(a[i].flatten().numpy(), b[i].flatten().numpy()).statistic for i in range(3)]
    torch.testing.assert_close(ours, torch.tensor(theirs, dtype=torch.float64), atol=1e-12, rtol=0)
    assert ours[2] > 0.99
    # by hand: ranks (0, 1, 2) against (2, 1, 0) give -1; ties (0.5, 0.5, 2) against (0, 1, 2): sqrt(3) / 2
    torch.testing.assert_close(metrics.spearman_correlation(torch.tensor([[1.0, 2, 3]]), torch.tensor([[3.0, 2, 1]])),
                               torch.tensor([-1.0], dtype=torch.float64))
    torch.testing.assert_close(metrics.spearman_correlation(torch.tensor([[1.0, 1, 5]]), torch.tensor([[1.0, 2, 3]])),
                               torch.tensor([3**0.5 / 2], dtype=torch.float64))


def test_ssim_equals_scikit_images():
    generator = torch.Generator().manual_seed(1)
    a = torch.rand(3, 20, 24, generator=generator)
    b = (a + 0.3 * torch.rand(3, 20, 24, generator=generator)).clamp(max=1)
    b[2] = torch.rand(20, 24, generator=generator)
    ours = metrics.ssim(a, b)
    theirs = [skimage_metrics.structural_similarity(a[i].double().numpy(), b[i].double().numpy(), data_range=1.0)
              for i in range(3)]
    torch.testing.assert_close(ours, torch.tensor(theirs, dtype=torch.float64), atol=1e-10, rtol=0)
    torch.testing.assert_close(metrics.ssim(a, a), torch.ones(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="smaller than the 7 x 7 window"):
        metrics.ssim(torch.rand(1, 5, 5), torch.rand(1, 5, 5))


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.stem = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
        self.body = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(self.stem(x)).mean(dim=(2, 3)))


def activation_map(model: nn.Module) -> dict[str, torch.Tensor]:
    x = torch.linspace(-1, 1, 64).view(1, 1, 8, 8)
    return {"body": model.body(model.stem(x)).sum(dim=1).detach()}


def test_cascading_randomization_leaves_the_model_and_the_generator_alone():
    model = Tiny()
    before = {name: p.clone() for name, p in model.state_dict().items()}
    torch.manual_seed(123)
    state = torch.get_rng_state()
    steps = {"head": ["head"], "body": ["body"], "stem": ["stem"]}
    history = metrics.cascading_randomization(model, steps, activation_map, seed=7)
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(before[name], p) for name, p in model.state_dict().items())
    assert list(history) == ["trained", "head", "body", "stem"]
    assert torch.equal(history["head"]["body"], history["trained"]["body"])  # the head is above the map
    assert not torch.equal(history["body"]["body"], history["trained"]["body"])
    again = metrics.cascading_randomization(model, steps, activation_map, seed=7)
    assert all(torch.equal(again[s]["body"], history[s]["body"]) for s in history)  # seeded: the same maps
    scores = metrics.randomization_scores(history, data_range=float(history["trained"]["body"].abs().max()) * 2)
    assert scores["head"]["body"] == pytest.approx((1.0, 1.0))
    assert scores["body"]["body"][0] < 0.99
