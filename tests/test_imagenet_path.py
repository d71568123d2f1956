"""The notebooks' ImageNet path, run against a locally made cache.

torchvision's ImageNet weights cannot be downloaded here, but a user's machine has them: there
notebook 10 must load the write-ups' VGG19 and notebook 13 ShuffleNetV2 x2.0, use the cat-and-dog
photo once it is fetched (classes 281 tabby and 254 pug), and never call a class picked with
EfficientNet-Lite0 "true".  The cells tagged ``imagenet-setup`` (the model, the picture, the
classes, the first maps and the labels) run in a fresh kernel with a fake ``TORCH_HOME`` holding
randomly initialised weights under torchvision's file names, and a stand-in photo in the samples
folder; a last cell reports what they chose.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import nbformat
import numpy as np
import pytest

from camkit.zoo import samples

from .scripts import load_script
from .test_zoo import fake_imagenet_cache

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
TAG = "imagenet-setup"


@pytest.fixture
def imagenet_machine(tmp_path, monkeypatch):
    """A machine with ImageNet weights cached (added per test) and no ShapeScenes zoo."""
    monkeypatch.setenv("CAMKIT_HOME", str(tmp_path / "camkit"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    for variable in ("CAMKIT_WEIGHTS", "CAMKIT_NO_TRAIN"):
        monkeypatch.delenv(variable, raising=False)
    return tmp_path


def fetch_fake_cat_and_dog() -> None:
    """A stand-in for data_scripts/fetch_samples.py's download: any picture under its file name."""
    samples.samples_dir().mkdir(parents=True, exist_ok=True)
    picture = np.random.default_rng(0).integers(0, 256, size=(180, 240, 3), dtype=np.uint8)
    cv2.imwrite(str(samples.samples_dir() / samples.CAT_AND_DOG_FILE), picture)


def run_setup_cells(notebook_name: str, report: str) -> dict:
    """Execute the notebook's tagged cells, then ``report`` (an expression), and return its value."""
    path = NOTEBOOKS / notebook_name
    notebook = nbformat.read(path, as_version=4)
    cells = [cell for cell in notebook.cells if TAG in cell.metadata.get("tags", [])]
    assert cells and all(cell.cell_type == "code" for cell in cells)
    notebook.cells = cells + [nbformat.v4.new_code_cell(f"import json\nprint(json.dumps({report}))")]
    load_script("run_notebooks").kernel(notebook, path, timeout=600).execute()
    (output,) = [o for o in notebook.cells[-1].outputs if o.get("name") == "stdout"]
    return json.loads(output["text"])


def test_notebook_10_runs_vgg19_on_the_cat_and_dog_photo(imagenet_machine):
    fake_imagenet_cache("vgg19")
    fetch_fake_cat_and_dog()
    chosen = run_setup_cells("10_vgg.ipynb", """{
        "model": zm.name, "weights": zm.weights, "classes": [a, b], "masks": masks is None,
        "picture": list(picture.shape), "stages": list(STAGE.values()), "layer": zm.layer, "titles": titles}""")
    assert (chosen["model"], chosen["weights"]) == ("vgg19", "imagenet")
    assert chosen["classes"] == [samples.TABBY, samples.PUG] == [281, 254]
    assert chosen["masks"] and chosen["picture"] == [224, 224, 3]  # the photo has no masks
    assert chosen["stages"] == ["relu1_2", "relu2_2", "relu3_4", "relu4_4", "relu5_4"]
    assert chosen["layer"] == "features.35"
    photos = [name for name in samples.names() if name not in ("cat_and_coffee", "cat_and_dog")]
    assert len(chosen["titles"]) == len(photos)
    assert all(title.startswith("recommended: ") and "true" not in title for title in chosen["titles"])


@pytest.mark.parametrize("photo", ["cat_and_dog", "cat_and_coffee"])
def test_notebook_13_runs_shufflenet_x2_on_the_write_ups_photo_or_the_bundled_one(imagenet_machine, photo):
    fake_imagenet_cache("shufflenet_v2_x2_0")
    if photo == "cat_and_dog":
        fetch_fake_cat_and_dog()
    chosen = run_setup_cells("13_shufflenet.ipynb", """{
        "model": zm.name, "weights": zm.weights, "objects": objects, "masks": None if masks is None else list(masks.shape),
        "picture": list(picture.shape), "top1": top1, "named": named, "sizes": [list(s) for s in sizes.values()]}""")
    assert (chosen["model"], chosen["weights"]) == ("shufflenet_v2_x2_0", "imagenet")
    if photo == "cat_and_dog":
        assert chosen["objects"] == [281, 254] and chosen["masks"] is None and chosen["picture"] == [224, 224, 3]
    else:
        assert chosen["objects"] == [samples.EGYPTIAN_CAT, samples.ESPRESSO] and chosen["masks"] == [2, 224, 448]
    assert sorted([chosen["top1"], chosen["named"]]) == sorted(chosen["objects"])
    assert chosen["sizes"] == ([[7, 7]] * 2 if photo == "cat_and_dog" else [[7, 14]] * 2)  # conv5 and stage4[-1]
