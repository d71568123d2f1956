"""Image helpers: loading, normalisation, overlays in RGB (not OpenCV's BGR), deprocess."""

import cv2
import matplotlib
import numpy as np
import pytest
import torch
from PIL import Image

import camkit
from camkit.image import heatmap, standardize, to_image, unstandardize

matplotlib.use("Agg")


@pytest.fixture()
def rgb() -> np.ndarray:
    image = np.zeros((8, 12, 3), dtype=np.uint8)
    image[:, :6, 0] = 255  # left half red
    image[:, 6:, 2] = 255  # right half blue
    return image


def test_load_image_from_path_pil_and_arrays(tmp_path, rgb):
    path = tmp_path / "picture.png"
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert np.array_equal(camkit.load_image(path), rgb)
    assert np.array_equal(camkit.load_image(str(path)), rgb)
    assert np.array_equal(camkit.load_image(Image.fromarray(rgb)), rgb)
    assert np.array_equal(camkit.load_image(rgb.astype(np.float32) / 255), rgb)
    gray = camkit.load_image(rgb[:, :, 0])
    assert gray.shape == (8, 12, 3) and np.array_equal(gray[:, :, 1], rgb[:, :, 0])
    rgba = np.concatenate([rgb, np.full((8, 12, 1), 7, np.uint8)], axis=2)
    assert np.array_equal(camkit.load_image(rgba), rgb)


def test_load_image_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="No image file"):
        camkit.load_image(tmp_path / "missing.png")
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(ValueError, match="Cannot read"):
        camkit.load_image(tmp_path / "text.png")
    with pytest.raises(ValueError, match=r"\(H, W\), \(H, W, 3\)"):
        camkit.load_image(np.zeros((2, 2, 5), np.uint8))
    with pytest.raises(TypeError, match="Cannot load an image"):
        camkit.load_image(42)


def test_to_tensor_normalises_with_imagenet_statistics(rgb):
    x = camkit.to_tensor(rgb)
    assert x.shape == (3, 8, 12)
    assert x[0, 0, 0].item() == pytest.approx((1 - 0.485) / 0.229)
    assert x[2, 0, 0].item() == pytest.approx((0 - 0.406) / 0.225)
    assert camkit.to_tensor(rgb, size=4).shape == (3, 4, 4)
    assert np.array_equal(to_image(unstandardize(x)), rgb)


def test_standardize_and_unstandardize_are_inverse_on_batches():
    x = torch.rand(2, 3, 5, 5)
    torch.testing.assert_close(unstandardize(standardize(x)), x)


def test_heatmap_is_rgb_jet_red_for_high_and_blue_for_low():
    high, low = heatmap(torch.ones(2, 2)), heatmap(np.zeros((2, 2)))
    # OpenCV's jet is BGR (0, 0, 128) at 1.0; in RGB the red channel must carry it
    assert high[0, 0, 0] > 100 and high[0, 0, 2] == 0
    assert low[0, 0, 2] > 100 and low[0, 0, 0] == 0


def test_overlay_blends_and_resizes(rgb):
    cam_map = torch.ones(2, 3)
    blended = camkit.overlay(rgb, cam_map, alpha=0.5)
    assert blended.shape == rgb.shape and blended.dtype == np.uint8
    expected = np.round(0.5 * rgb.astype(np.float32) + 0.5 * heatmap(torch.ones(8, 12)).astype(np.float32))
    assert np.abs(blended.astype(np.float32) - expected).max() <= 1
    assert np.array_equal(camkit.overlay(rgb, cam_map, alpha=0.0), rgb)
    with pytest.raises(ValueError, match="alpha"):
        camkit.overlay(rgb, cam_map, alpha=2)
    with pytest.raises(ValueError, match="Unknown colormap 'nope'.*jet"):
        camkit.overlay(rgb, cam_map, colormap="nope")
    with pytest.raises(ValueError, match="2-D"):
        camkit.overlay(rgb, torch.ones(1, 2, 3))


def test_overlay_takes_a_tensor_image():
    image = torch.rand(3, 6, 6)
    assert camkit.overlay(image, torch.rand(6, 6)).shape == (6, 6, 3)


def test_deprocess_centres_at_half_with_std_point_one():
    torch.manual_seed(0)
    guided = torch.randn(2, 3, 16, 16) * 1e-3 + 5e-4
    shown = camkit.deprocess(guided)
    assert shown.shape == guided.shape
    assert shown.min() >= 0 and shown.max() <= 1
    for image in shown:
        assert image.mean().item() == pytest.approx(0.5, abs=2e-3)
        assert image.std().item() == pytest.approx(0.1, abs=5e-3)
    assert camkit.deprocess(guided[0]).shape == (3, 16, 16)


def test_show_maps_draws_a_grid(rgb):
    fig = camkit.show_maps([rgb, torch.rand(4, 4), torch.rand(3, 4, 4)], titles=["a", "b", "c"], ncols=2)
    assert len(fig.axes) == 4 and fig.axes[0].get_title() == "a"


def test_outline_runs_between_the_pixels_inside_and_outside_the_mask():
    mask = torch.zeros(10, 12, dtype=torch.bool)
    mask[2:6, 3:8] = True  # rows 2-5, columns 3-7
    fig = camkit.show_maps([torch.rand(10, 12), torch.rand(10, 12)])
    camkit.outline(fig.axes, mask, color="cyan")
    assert [len(ax.collections) for ax in fig.axes] == [1, 1]
    (segment,) = fig.axes[1].collections[0].allsegs[0]  # one closed line: (x, y) = (column, row)
    assert segment[:, 0].min() == pytest.approx(2.5) and segment[:, 0].max() == pytest.approx(7.5)
    assert segment[:, 1].min() == pytest.approx(1.5) and segment[:, 1].max() == pytest.approx(5.5)
    camkit.outline(fig.axes[0], mask.numpy())  # one Axes, a numpy mask
    camkit.outline(fig.axes, None)  # no ground truth: nothing drawn
    assert [len(ax.collections) for ax in fig.axes] == [2, 1]
    with pytest.raises(ValueError, match="one mask"):
        camkit.outline(fig.axes[0], mask[None])


def test_pixels_to_tensor_scales_and_moves_the_channels():
    from camkit.image import pixels_to_tensor

    pixels = np.arange(2 * 3 * 4 * 3, dtype=np.uint8).reshape(2, 3, 4, 3)
    pixels.flags.writeable = False  # e.g. an array from np.asarray(PIL image): no warning, no change
    batch = pixels_to_tensor(pixels)
    assert batch.shape == (2, 3, 3, 4) and batch.dtype == torch.float32
    assert batch[1, 2, 0, 1] == pixels[1, 0, 1, 2] / 255
    assert torch.equal(pixels_to_tensor(pixels[0]), batch[0])
    with pytest.raises(ValueError, match="RGB uint8 pixels"):
        pixels_to_tensor(pixels.astype(np.float32))
