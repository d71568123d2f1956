"""The explorer's widget view: its controls write the state, its pictures follow, and the opacity
slider and colormap only re-render what was computed."""

import pytest

pytest.importorskip("ipywidgets")

import camkit  # noqa: E402
from camkit import zoo  # noqa: E402
from camkit.apps.explorer import Explorer, explore  # noqa: E402
from camkit.apps.explorer_state import ExplorerState  # noqa: E402

from .test_explorer_state import (  # noqa: E402, F401 (toy_method is a fixture)
    METHOD_NAMES,
    counting_forward_calls,
    ramp_png,
    tiny_zoo_model,
    toy_method,
    upload,
)
from .test_hygiene import assert_unchanged, snapshot  # noqa: E402


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
    shared_explorer.method_picker.value = "gradcam"
    shared_explorer.layer_picker.value = shared_explorer.zoo_model.layer
    shared_explorer.class_picker.value = shared_explorer.class_picker.options[0][1]
    return shared_explorer


def shown(explorer: Explorer) -> bytes:
    """The PNG bytes of the picture the explorer shows now."""
    return bytes(explorer.picture.value)


def test_opens_on_the_top_class_with_a_map(explorer):
    zoo_model = explorer.zoo_model
    labels = [label for label, _ in explorer.class_picker.options]
    assert len(labels) == 5 and "Egyptian cat" in " ".join(labels)
    assert explorer.class_picker.value == explorer.class_picker.options[0][1] == explorer.state.class_index
    assert explorer.layer_picker.value == zoo_model.layer == "head"
    assert "imagenet" in explorer.weights_label.value
    assert explorer.message.value == ""
    assert shown(explorer).startswith(b"\x89PNG")
    assert list(explorer.method_picker.options) == [(camkit.method_info(name).title, name) for name in METHOD_NAMES]
    assert len(explorer.class_search.options) == 1000


def test_repr_is_short_and_stable(explorer):
    assert repr(explorer) == "Explorer(model='efficientnet_lite0', image='chelsea', method='gradcam')"


def test_method_layer_and_class_each_change_the_picture(explorer):
    grad_cam = shown(explorer)
    for method in METHOD_NAMES:
        if method not in ("gradcam", "cam") and not camkit.method_info(method).per_channel:  # 1,280 forwards
            explorer.method_picker.value = method
            assert explorer.message.value == "" and shown(explorer) != grad_cam, method
            assert explorer.caption.value.startswith(camkit.method_info(method).title + " of "), method
    explorer.method_picker.value = "gradcam"
    assert shown(explorer) == grad_cam
    explorer.layer_picker.value = "blocks.10"
    at_blocks_10 = shown(explorer)
    assert at_blocks_10 != grad_cam and "blocks.10" in explorer.caption.value and explorer.state.layer == "blocks.10"
    explorer.class_picker.value = explorer.class_picker.options[3][1]
    assert shown(explorer) not in (grad_cam, at_blocks_10)


def test_class_search_reaches_any_class(explorer):
    before = shown(explorer)
    explorer.class_search.value = "goldfish (1)"
    assert explorer.class_picker.value == 1
    assert explorer.class_picker.options[-1][0].startswith("goldfish (")
    assert shown(explorer) != before and "goldfish" in explorer.caption.value


def test_a_choice_that_cannot_work_shows_camkit_message(explorer):
    explorer.method_picker.value = "cam"
    assert explorer.message.value == ""  # the head feeds global average pooling and one linear layer
    explorer.layer_picker.value = "blocks.10"
    assert "is not the global average of" in explorer.message.value
    assert "not available" in explorer.caption.value
    explorer.method_picker.value = "gradcam"
    assert explorer.message.value == ""


def test_opacity_and_colormap_do_not_run_the_model(explorer):
    explorer.method_picker.value = "layercam"
    explorer.method_picker.value = "gradcam"
    with counting_forward_calls(explorer.zoo_model.model) as calls:
        pictures = [shown(explorer)]
        explorer.opacity.value = 0.8
        pictures.append(shown(explorer))
        explorer.colormap.value = "inferno"
        pictures.append(shown(explorer))
        explorer.method_picker.value = "layercam"  # computed before: from the cache
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
    titles = [cell.children[0].value for cell in explorer.compare_row.children]
    compared = explorer.state.compared()
    assert titles == [f"<b>{camkit.method_info(name).title}</b>" for name in compared]
    assert "<b>Input gradient</b>" in titles and "<b>Deconvnet</b>" in titles
    assert "ablationcam" in METHOD_NAMES and "ablationcam" not in compared  # per channel: only on demand
    assert "is not the global average of" in explorer.compare_notes["cam"].value  # CAM cannot work at blocks.10
    assert explorer.compare_pictures["cam"].layout.display == "none"
    others = [name for name in compared if name != "cam"]
    pictures = [bytes(explorer.compare_pictures[name].value) for name in others]
    assert all(picture.startswith(b"\x89PNG") for picture in pictures) and len(set(pictures)) == len(pictures)
    assert not any(explorer.compare_notes[name].value for name in others)
    explorer.compare.value = False
    assert explorer.compare_row.layout.display == "none"


def test_an_uploaded_file_becomes_the_image(explorer):
    before = shown(explorer)
    explorer.upload.value = upload("ramp.png", ramp_png())
    assert explorer.image_picker.value.startswith("upload: ramp.png") and explorer.image_picker.value == explorer.state.image
    assert explorer.message.value == "" and shown(explorer) != before
    explorer.upload.value = upload("notes.txt", b"hello")
    assert "notes.txt is not an image" in explorer.message.value


def test_the_model_is_left_as_it_was(explorer):
    model = explorer.zoo_model.model
    before = snapshot(model)
    explorer.layer_picker.value = "blocks.4"
    explorer.compare.value = True  # every method, CAM failing after its forward pass
    assert "is not the global average of" in explorer.compare_notes["cam"].value
    assert_unchanged(model, before)


def test_menus_follow_the_model():
    explorer = explore(state=ExplorerState(model="resnet18", image="coffee", loader=tiny_zoo_model))
    assert sorted(label.split(" (")[0] for label, _ in explorer.class_picker.options) == ["blue", "green", "red"]
    assert explorer.layer_picker.value == "layer4" and "layer4.1.relu" not in dict(explorer.layer_picker.options).values()
    explorer.layer_picker.value = "layer3"
    explorer.model_picker.value = "alexnet"
    assert sorted(label.split(" (")[0] for label, _ in explorer.class_picker.options) == ["east", "north", "south", "west"]
    assert explorer.class_search.options == ("north (0)", "east (1)", "south (2)", "west (3)")
    assert explorer.layer_picker.value == "layer4"  # the new model's default layer
    assert explorer.message.value == "" and "4 classes" in explorer.weights_label.value
    assert "vit_mini" in explorer.model_picker.options and "fcn_resnet18" not in explorer.model_picker.options  # classifiers


def test_a_registered_method_is_in_the_widget(toy_method):
    explorer = Explorer(state=ExplorerState(model="resnet18", image="coffee", loader=tiny_zoo_model))
    assert explorer.method_picker.options[-1] == ("Toy centre", "toy-centre")
    before = shown(explorer)
    explorer.method_picker.value = "toy-centre"
    assert explorer.message.value == "" and shown(explorer) != before and "Toy centre of" in explorer.caption.value
    explorer.compare.value = True
    assert explorer.compare_row.children[-1].children[0].value == "<b>Toy centre</b>"
    assert bytes(explorer.compare_pictures["toy-centre"].value).startswith(b"\x89PNG")


def test_missing_shapes_weights_give_a_message_and_no_training(explorer, monkeypatch, tmp_path):
    def no_training(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the explorer started training the zoo")

    monkeypatch.setenv("CAMKIT_HOME", str(tmp_path))
    monkeypatch.setenv("CAMKIT_WEIGHTS", "shapes")
    monkeypatch.setattr("camkit.zoo.train_and_save", no_training)
    monkeypatch.setattr("camkit.zoo.training.train_and_save", no_training)
    explorer.model_picker.value = "alexnet"
    assert "not trained yet" in explorer.message.value and "make zoo" in explorer.message.value
    assert explorer.caption.value == ""
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
    explorer.method_picker.value = "cam"
    assert explorer.message.value == "" and shown(explorer).startswith(b"\x89PNG")
    assert_unchanged(explorer.zoo_model.model, before)
