"""Sample photos: bundled in installed packages, loadable without network, with sensible classes."""

import socket

import cv2
import numpy as np
import pytest

from camkit.zoo import samples

pytest.importorskip("skimage")
pytest.importorskip("sklearn")

BUNDLED = ["astronaut", "chelsea", "china", "coffee", "flower", "grace_hopper", "motorcycle", "rocket"]


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CAMKIT_HOME", str(tmp_path))
    return tmp_path / "samples"


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access during a test")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_names_are_the_bundled_photos_and_the_composite(empty_cache):
    assert samples.names() == sorted([*BUNDLED, "cat_and_coffee"])


@pytest.mark.parametrize("name", BUNDLED)
def test_each_bundled_photo_loads_as_rgb_uint8_without_network(name, empty_cache, no_network):
    image = samples.load(name)
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert min(image.shape[:2]) >= 256 and image.std() > 10
    assert 0 <= samples.recommended_class(name) < 1000
    assert samples.description(name)


def test_cat_and_coffee_puts_chelsea_left_and_the_cup_right():
    image = samples.cat_and_coffee(size=64)
    assert image.shape == (64, 128, 3) and image.dtype == np.uint8
    assert np.array_equal(samples.load("cat_and_coffee"), samples.cat_and_coffee())
    assert samples.recommended_class("cat_and_coffee") == samples.EGYPTIAN_CAT == 285
    assert samples.recommended_class("coffee") == samples.ESPRESSO == 967
    chelsea = cv2.resize(samples.load("chelsea")[:, 75:375], (64, 64), interpolation=cv2.INTER_AREA)
    assert np.abs(image[:, :64].astype(int) - chelsea).mean() < 8


def test_half_shares():
    left_heavy = np.array([[3.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
    assert samples.half_shares(left_heavy) == pytest.approx((0.8, 0.2))
    with pytest.raises(ValueError, match="even width"):
        samples.half_shares(np.ones((2, 3)))
    with pytest.raises(ValueError, match="no positive mass"):
        samples.half_shares(np.zeros((2, 4)))


def test_unknown_name_lists_the_available_ones(empty_cache):
    with pytest.raises(KeyError, match="Unknown sample 'kitten'; available: astronaut, cat_and_coffee, chelsea"):
        samples.load("kitten")
    with pytest.raises(KeyError, match="fetch_samples.py"):
        samples.recommended_class("cat_and_dog")


def test_downloaded_cat_and_dog_is_listed_once_present(empty_cache):
    empty_cache.mkdir(parents=True)
    picture = np.zeros((20, 30, 3), dtype=np.uint8)
    picture[:, :, 0] = 200
    cv2.imwrite(str(empty_cache / samples.CAT_AND_DOG_FILE), picture[:, :, ::-1])
    assert "cat_and_dog" in samples.names()
    loaded = samples.load("cat_and_dog")
    assert loaded.shape == (20, 30, 3) and loaded[0, 0].tolist() == [200, 0, 0]
    assert samples.recommended_class("cat_and_dog") == samples.TABBY == 281
    square = samples.cat_and_dog(16)
    assert square.shape == (16, 16, 3) and square.dtype == np.uint8 and square[8, 8].tolist() == [200, 0, 0]


def test_samples_dir_follows_camkit_home(tmp_path, monkeypatch):
    monkeypatch.setenv("CAMKIT_HOME", str(tmp_path))
    assert samples.samples_dir() == tmp_path / "samples"
    monkeypatch.delenv("CAMKIT_HOME")
    assert samples.samples_dir().parts[-3:] == (".cache", "camkit", "samples")
