"""The explorer driven from code: menus follow the model, pictures follow the choices, and the
opacity slider and colormap only re-render what was computed."""

import contextlib
import datetime
import io

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

pytest.importorskip("ipywidgets")

from camkit import explorer as explorer_module  # noqa: E402
from camkit import zoo  # noqa: E402
from camkit.explorer import METHODS, Explorer, LRUCache, spatial_layers  # noqa: E402
from camkit.image import to_tensor  # noqa: E402

from .test_hygiene import assert_unchanged, snapshot  # noqa: E402


UPLOAD_TIME = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)


@pytest.fixture(scope="module")
def shared_explorer() -> Explorer:
    """One explorer on EfficientNet-Lite0 (offline ImageNet weights) for the whole module."""
    return Explorer()


@pytest.fixture
def explorer(shared_explorer: Explorer) -> Explorer:
    """The shared explorer back at its first view: chelsea, Grad-CAM at the default layer, top class."""
    shared_explorer.compare.value = False
    shared_explorer.model_picker.value = "efficientnet_lite0"
    shared_explorer.image_picker.value = "chelsea"
    shared_explorer.method_picker.value = "Grad-CAM"
    shared_explorer.layer_picker.value = shared_explorer.zoo_model.layer
    shared_explorer.class_picker.value = shared_explorer.class_picker.options[0][1]
    return shared_explorer


@contextlib.contextmanager
def counting_forward_calls(model: torch.nn.Module):
    """Count the model's forward passes during the block (the counting hook is removed after)."""
    calls = [0]

    def count(*_args: object) -> None:
        calls[0] += 1

    handle = model.register_forward_hook(count)
    try:
        yield calls
    finally:
        handle.remove()


def shown(explorer: Explorer) -> bytes:
    """The PNG bytes of the picture the explorer shows now."""
    return bytes(explorer.picture.value)


def tiny_zoo_model(name: str, weights: str = "auto") -> zoo.ZooModel:
    """A small untrained ResNet-18 standing in for a zoo model: 3 classes for resnet18, 4 otherwise."""
    categories = ["red", "green", "blue"] if name == "resnet18" else ["north", "east", "south", "west"]
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=len(categories)).eval()
    return zoo.ZooModel(name, "random", model, lambda image: to_tensor(image, size=64), categories,
                        "layer4", ["layer3", "layer4"], 64)


def test_opens_on_the_top_class_with_a_map(explorer):
    zoo_model = explorer.zoo_model
    labels = [label for label, _ in explorer.class_picker.options]
    assert len(labels) == 5 and "Egyptian cat" in " ".join(labels)
    assert explorer.class_picker.value == explorer.class_picker.options[0][1]
    assert explorer.layer_picker.value == zoo_model.layer == "head"
    assert "imagenet" in explorer.weights_label.value
    assert explorer.message.value == ""
    assert shown(explorer).startswith(b"\x89PNG")
    assert list(explorer.method_picker.options) == list(METHODS)
    assert len(explorer.class_search.options) == 1000


def test_repr_is_short_and_stable(explorer):
    assert repr(explorer) == "Explorer(model='efficientnet_lite0', image='chelsea', method='Grad-CAM')"


def test_spatial_layers_ran_once_with_more_than_one_pixel():
    model = torchvision.models.resnet18(num_classes=3).eval()
    before = snapshot(model)
    layers = spatial_layers(model, torch.randn(1, 3, 64, 64))
    assert layers["layer4"] == (512, 2, 2) and layers["conv1"] == (64, 32, 32)
    assert "layer4.1.relu" not in layers  # one ReLU module runs twice per block: ambiguous
    assert "avgpool" not in layers and "fc" not in layers  # 1 x 1 and 2-D outputs
    assert_unchanged(model, before)


def test_method_layer_and_class_each_change_the_picture(explorer):
    grad_cam = shown(explorer)
    for method in ("LayerCAM", "Guided Backprop", "Guided Grad-CAM", "Counterfactual Grad-CAM"):
        explorer.method_picker.value = method
        assert explorer.message.value == "" and shown(explorer) != grad_cam, method
    explorer.method_picker.value = "Grad-CAM"
    assert shown(explorer) == grad_cam
    explorer.layer_picker.value = "blocks.10"
    at_blocks_10 = shown(explorer)
    assert at_blocks_10 != grad_cam and "blocks.10" in explorer.caption.value
    explorer.class_picker.value = explorer.class_picker.options[3][1]
    assert shown(explorer) not in (grad_cam, at_blocks_10)


def test_class_search_reaches_any_class(explorer):
    before = shown(explorer)
    explorer.class_search.value = "goldfish (1)"
    assert explorer.class_picker.value == 1
    assert explorer.class_picker.options[-1][0].startswith("goldfish (")
    assert shown(explorer) != before and "goldfish" in explorer.caption.value


def test_a_choice_that_cannot_work_shows_camkit_message(explorer):
    explorer.method_picker.value = "CAM"
    assert explorer.message.value == ""  # the head feeds global average pooling and one linear layer
    explorer.layer_picker.value = "blocks.10"
    assert "is not the global average of" in explorer.message.value
    assert "not available" in explorer.caption.value
    explorer.method_picker.value = "Grad-CAM"
    assert explorer.message.value == ""


def test_opacity_and_colormap_do_not_run_the_model(explorer):
    explorer.method_picker.value = "LayerCAM"
    explorer.method_picker.value = "Grad-CAM"
    with counting_forward_calls(explorer.zoo_model.model) as calls:
        pictures = [shown(explorer)]
        explorer.opacity.value = 0.8
        pictures.append(shown(explorer))
        explorer.colormap.value = "inferno"
        pictures.append(shown(explorer))
        explorer.method_picker.value = "LayerCAM"  # computed before: from the cache
        explorer.opacity.value = 0.5
        explorer.colormap.value = "jet"
    assert calls[0] == 0
    assert len(set(pictures)) == 3


def test_a_new_class_runs_the_model_again(explorer):
    with counting_forward_calls(explorer.zoo_model.model) as calls:
        explorer.class_picker.value = explorer.class_picker.options[2][1]
    assert calls[0] == 1


def test_compare_shows_every_method_in_one_row(explorer):
    explorer.layer_picker.value = "blocks.10"
    explorer.compare.value = True
    assert explorer.compare_row.layout.display == "flex"
    assert [cell.children[0].value for cell in explorer.compare_row.children] == [f"<b>{name}</b>" for name in METHODS]
    assert "is not the global average of" in explorer.compare_notes["CAM"].value  # CAM cannot work at blocks.10
    assert explorer.compare_pictures["CAM"].layout.display == "none"
    pictures = [bytes(explorer.compare_pictures[name].value) for name in METHODS if name != "CAM"]
    assert all(picture.startswith(b"\x89PNG") for picture in pictures) and len(set(pictures)) == len(pictures)
    assert not any(explorer.compare_notes[name].value for name in METHODS if name != "CAM")
    explorer.compare.value = False
    assert explorer.compare_row.layout.display == "none"


def test_an_uploaded_file_becomes_the_image(explorer):
    before = shown(explorer)
    buffer = io.BytesIO()
    Image.fromarray(np.tile(np.linspace(0, 255, 80, dtype=np.uint8)[:, None, None], (1, 120, 3))).save(buffer, "PNG")
    explorer.upload.value = ({"name": "ramp.png", "type": "image/png", "size": buffer.tell(),
                              "content": memoryview(buffer.getvalue()), "last_modified": UPLOAD_TIME},)
    assert explorer.image_picker.value.startswith("upload: ramp.png")
    assert explorer.message.value == "" and shown(explorer) != before
    explorer.upload.value = ({"name": "notes.txt", "type": "text/plain", "size": 5,
                              "content": memoryview(b"hello"), "last_modified": UPLOAD_TIME},)
    assert "notes.txt is not an image" in explorer.message.value


def test_the_model_is_left_as_it_was(explorer):
    model = explorer.zoo_model.model
    before = snapshot(model)
    explorer.layer_picker.value = "blocks.4"
    explorer.compare.value = True  # every method, CAM failing after its forward pass
    assert "is not the global average of" in explorer.compare_notes["CAM"].value
    assert_unchanged(model, before)


def test_menus_follow_the_model(monkeypatch):
    monkeypatch.setattr(explorer_module, "load_zoo_model", tiny_zoo_model)
    explorer = Explorer(model="resnet18", image="coffee")
    assert sorted(label.split(" (")[0] for label, _ in explorer.class_picker.options) == ["blue", "green", "red"]
    assert explorer.layer_picker.value == "layer4" and "layer4.1.relu" not in dict(explorer.layer_picker.options).values()
    explorer.model_picker.value = "alexnet"
    assert sorted(label.split(" (")[0] for label, _ in explorer.class_picker.options) == ["east", "north", "south", "west"]
    assert explorer.class_search.options == ("north (0)", "east (1)", "south (2)", "west (3)")
    assert explorer.message.value == "" and "4 classes" in explorer.weights_label.value


def test_missing_shapes_weights_give_a_message_and_no_training(explorer, monkeypatch, tmp_path):
    def no_training(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the explorer started training the zoo")

    monkeypatch.setenv("CAMKIT_HOME", str(tmp_path))
    monkeypatch.setenv("CAMKIT_WEIGHTS", "shapes")
    monkeypatch.setattr("camkit.training.train_and_save", no_training)
    explorer.model_picker.value = "alexnet"
    assert "not trained yet" in explorer.message.value and "make zoo" in explorer.message.value
    explorer.model_picker.value = "efficientnet_lite0"
    assert explorer.message.value == "" and shown(explorer).startswith(b"\x89PNG")


@pytest.mark.zoo
@pytest.mark.skipif(not zoo.shapes_weights_path("resnet18").exists(), reason="the ShapeScenes zoo is not built (make zoo)")
def test_a_shapes_model_explains_a_scene(monkeypatch):
    monkeypatch.setenv("CAMKIT_WEIGHTS", "shapes")
    explorer = Explorer(model="resnet18")
    explorer.image_picker.value = next(label for label in explorer.image_picker.options if label.startswith("scene 1-"))
    assert "shapes" in explorer.weights_label.value and explorer.message.value == ""
    assert {label.split(" (")[0] for label, _ in explorer.class_picker.options} <= set(zoo.SHAPE_CLASSES)
    before, top1 = snapshot(explorer.zoo_model.model), shown(explorer)
    explorer.class_picker.value = explorer.class_picker.options[1][1]
    assert explorer.message.value == "" and shown(explorer) != top1
    explorer.method_picker.value = "CAM"
    assert explorer.message.value == "" and shown(explorer).startswith(b"\x89PNG")
    assert_unchanged(explorer.zoo_model.model, before)


def test_lru_cache_keeps_the_most_recent():
    cache = LRUCache(2)
    made = []
    for key in ("a", "b", "a", "c", "a", "b"):
        cache.get(key, lambda key=key: made.append(key) or key.upper())
    assert made == ["a", "b", "c", "b"]
