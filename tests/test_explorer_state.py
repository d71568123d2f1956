"""The explorer's state driven from code, without widgets: menus from the registry and the model,
caches, messages."""

import contextlib
import datetime
import io
import subprocess
import sys

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

import camkit
from camkit import zoo
from camkit.apps.explorer_state import Explanation, ExplorerState, LRUCache, load_zoo_model, spatial_layers
from camkit.core.registry import LAYER_MAP, unregister
from camkit.image import to_tensor

from .test_hygiene import assert_unchanged, snapshot

UPLOAD_TIME = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
METHOD_NAMES = camkit.available_methods()


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


def tiny_zoo_model(name: str, weights: str = "auto") -> zoo.ZooModel:
    """A small untrained ResNet-18 standing in for a zoo model: 3 classes for resnet18, 4 otherwise."""
    categories = ["red", "green", "blue"] if name == "resnet18" else ["north", "east", "south", "west"]
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=len(categories)).eval()
    return zoo.ZooModel(name, "random", model, lambda image: to_tensor(image, size=64), categories,
                        "layer4", ["layer3", "layer4"], 64)


def upload(name: str, content: bytes) -> tuple[dict, ...]:
    """What ipywidgets' FileUpload holds after one file was chosen."""
    return ({"name": name, "type": "", "size": len(content), "content": memoryview(content), "last_modified": UPLOAD_TIME},)


def ramp_png() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.tile(np.linspace(0, 255, 80, dtype=np.uint8)[:, None, None], (1, 120, 3))).save(buffer, "PNG")
    return buffer.getvalue()


class CentreMap:
    """A toy method: 1 in the middle quarter of the input, 0 elsewhere, whatever the model says."""

    layers: list[str] = []

    def __init__(self, model: torch.nn.Module, layer: str) -> None:
        self.layers.append(layer)

    def __call__(self, x: torch.Tensor, target: int) -> torch.Tensor:
        height, width = x.shape[2:]
        maps = torch.zeros(x.shape[0], height, width)
        maps[:, height // 4 : 3 * height // 4, width // 4 : 3 * width // 4] = 1
        return maps


@pytest.fixture
def toy_method() -> camkit.MethodInfo:
    """"toy-centre" registered for the test, and unregistered after it."""
    CentreMap.layers.clear()
    info = camkit.register(camkit.MethodInfo("toy-centre", "Toy centre", CentreMap, LAYER_MAP, True, False, 0, "none"))
    try:
        yield info
    finally:
        unregister(info.name)


@pytest.fixture
def state() -> ExplorerState:
    """A state on the tiny stand-in model (resnet18: 3 classes) and the coffee photo."""
    return ExplorerState(model="resnet18", image="coffee", loader=tiny_zoo_model)


@pytest.fixture(scope="module")
def imagenet_state() -> ExplorerState:
    """A state on EfficientNet-Lite0 (offline ImageNet weights) and chelsea, for the whole module."""
    return ExplorerState()


# ------------------------------------------------------------------------------------ state
def test_the_state_module_needs_no_widgets():
    code = "import sys; sys.modules['ipywidgets'] = None; import camkit.apps.explorer_state"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr


def test_state_opens_on_the_default_layer_and_the_top_class(state):
    assert state.layer is None and state.class_index is None  # nothing is loaded before it is needed
    state.prepare()
    assert state.layer == "layer4" and ("layer4  (512×2×2)", "layer4") in state.layer_menu()
    assert state.class_index == int(state.view().probabilities.argmax())
    assert sorted(label.split(" (")[0] for label, _ in state.class_menu()) == ["blue", "green", "red"]
    assert state.search_labels() == ("red (0)", "green (1)", "blue (2)")
    assert "<b>random</b> · 3 classes · input 64 px" in state.weights_note()
    assert repr(state) == "ExplorerState(model='resnet18', image='coffee', method='gradcam')"


def test_the_method_menu_is_the_registry(state):
    assert state.method_menu() == [(camkit.method_info(name).title, name) for name in METHOD_NAMES]
    assert ("Input gradient", "gradient") in state.method_menu() and ("Deconvnet", "deconvnet") in state.method_menu()
    state.compare = True
    explanations = state.explanations()
    assert state.compared() == [name for name in METHOD_NAMES if not camkit.method_info(name).per_channel]
    assert list(explanations) == ["gradcam", *(n for n in state.compared() if n != "gradcam")]  # the chosen first
    assert "ablationcam" in METHOD_NAMES and "ablationcam" not in explanations  # on demand only
    assert all(isinstance(explanation, Explanation) for explanation in explanations.values())


def test_a_new_model_or_image_brings_defaults_unless_chosen_after(state):
    state.layer, state.class_index = "layer3", 1
    state.image = "chelsea"
    state.prepare()
    assert state.layer == "layer3" and state.class_index == int(state.view().probabilities.argmax())
    state.model = "alexnet"  # the tiny stand-in with 4 classes
    state.prepare()
    assert state.layer == "layer4" and len(state.class_menu()) == 4
    state.model, state.layer, state.class_index = "resnet18", "layer3", 2  # chosen for the new model
    state.prepare()
    assert (state.layer, state.class_index) == ("layer3", 2)


def test_each_choice_changes_the_picture_and_the_look_runs_no_model(state):
    pictures = {state.render(state.explain()).tobytes()}
    with counting_forward_calls(state.zoo_model.model) as calls:
        state.opacity, state.colormap = 0.8, "inferno"
        pictures.add(state.render(state.explain()).tobytes())
    assert calls[0] == 0  # the map came from the cache
    state.layer = "layer3"
    pictures.add(state.render(state.explain()).tobytes())
    state.class_index = 0 if state.class_index else 1
    pictures.add(state.render(state.explain()).tobytes())
    state.method = "guided"
    picture = state.render(state.explain())
    assert picture.shape == (64, 64, 3) and picture.dtype == np.uint8
    assert len(pictures | {picture.tobytes()}) == 5


def test_a_method_without_a_layer_ignores_it(state):
    assert camkit.method_info("gradient").takes_layer is False
    gradient = state.explain("gradient")
    with counting_forward_calls(state.zoo_model.model) as calls:
        state.layer = "layer3"
        assert state.explain("gradient") is gradient
    assert calls[0] == 0
    state.method = "gradient"
    assert state.caption(gradient).startswith("Input gradient of <b>") and "at layer" not in state.caption(gradient)


def test_a_choice_that_cannot_work_gives_the_method_message(state):
    state.method, state.layer = "cam", "layer3"  # layer3 does not feed global average pooling
    message = state.explain()
    assert isinstance(message, str) and message.startswith("CAM: ") and "is not the global average of" in message
    assert np.array_equal(state.render(message), state.view().picture)
    assert state.caption(message).endswith(": not available (see the message)")
    state.layer = "layer4"
    assert isinstance(state.explain(), Explanation)


def test_a_registered_method_joins_the_menu_and_explains(toy_method):
    state = ExplorerState(model="resnet18", image="coffee", loader=tiny_zoo_model)
    assert state.method_menu()[-1] == ("Toy centre", "toy-centre")
    state.method, state.layer = "toy-centre", "layer3"
    explanation = state.explain()
    assert CentreMap.layers == ["layer3"]
    assert explanation.cam_map.shape == (64, 64) and explanation.cam_map[32, 32] == 1 and explanation.cam_map[0, 0] == 0
    assert state.caption(explanation).startswith("Toy centre of <b>") and "layer3" in state.caption(explanation)
    assert not np.array_equal(state.render(explanation), state.view().picture)
    state.compare = True
    assert list(state.explanations()) == ["toy-centre", *(name for name in state.compared() if name != "toy-centre")]


def test_a_class_outside_the_top_5_joins_the_class_menu(imagenet_state):
    state = imagenet_state
    assert len(state.search_labels()) == 1000 and state.search_labels()[1] == "goldfish (1)"
    state.class_index = 1
    menu = state.class_menu()
    assert len(menu) == 6 and menu[-1][1] == 1 and menu[-1][0].startswith("goldfish (")
    assert "Egyptian cat" in " ".join(label for label, _ in menu[:5])
    assert "<b>goldfish</b>" in state.caption(state.explain())


def test_an_added_image_is_chosen_and_can_be_replaced(state):
    ramp = np.asarray(Image.open(io.BytesIO(ramp_png())))
    state.add_image("ramp", ramp)
    assert state.image == "ramp" and list(state.images)[-1] == "ramp"
    first = state.render(state.explain())
    state.add_image("ramp", 255 - ramp)  # the same label, another image: nothing stale is shown
    assert not np.array_equal(state.render(state.explain()), first)


def test_missing_shapes_weights_raise_and_never_train(monkeypatch, tmp_path):
    def no_training(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the explorer started training the zoo")

    monkeypatch.setenv("CAMKIT_HOME", str(tmp_path))
    monkeypatch.setattr("camkit.zoo.train_and_save", no_training)
    monkeypatch.setattr("camkit.zoo.training.train_and_save", no_training)
    with pytest.raises(ValueError, match="not trained yet.*`make zoo`"):
        load_zoo_model("alexnet", "shapes")
    state = ExplorerState(model="alexnet", weights="shapes")
    with pytest.raises(ValueError, match="make zoo"):
        state.explain()


def test_spatial_layers_ran_once_with_more_than_one_pixel():
    model = torchvision.models.resnet18(num_classes=3).eval()
    before = snapshot(model)
    layers = spatial_layers(model, torch.randn(1, 3, 64, 64))
    assert layers["layer4"] == (512, 2, 2) and layers["conv1"] == (64, 32, 32)
    assert "layer4.1.relu" not in layers  # one ReLU module runs twice per block: ambiguous
    assert "avgpool" not in layers and "fc" not in layers  # 1 x 1 and 2-D outputs
    assert_unchanged(model, before)


def test_lru_cache_keeps_the_most_recent():
    cache = LRUCache(2)
    made = []
    for key in ("a", "b", "a", "c", "a", "b"):
        cache.get(key, lambda key=key: made.append(key) or key.upper())
    assert made == ["a", "b", "c", "b"]


def test_a_vision_transformer_offers_its_token_layers_and_says_how_it_read_them():
    """vit_mini (random weights, no training): its blocks' (B, 37, 128) tokens are offered as
    128 x 6 x 6 maps, its default layer is chosen, and Grad-CAM's caption says how the tokens were read."""
    state = ExplorerState(model="vit_mini", image="coffee", weights="random", scenes=1,
                          loader=lambda name, weights: zoo.load(name, weights=weights))
    layers = state.layers()
    assert layers["encoder.layers.encoder_layer_1.ln_1"] == (128, 6, 6) and layers["conv_proj"] == (128, 6, 6)
    assert "heads.head" not in layers and "encoder.layers.encoder_layer_1.self_attention" not in layers
    state.prepare()
    assert state.layer == "encoder.layers.encoder_layer_1.ln_1"
    explanation = state.explain("gradcam")
    assert isinstance(explanation, Explanation) and explanation.cam_map.shape == (48, 48)
    assert "1 leading token(s) left out" in explanation.note and "6 x 6 grid" in state.caption(explanation)
