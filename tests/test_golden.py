"""Golden values computed by hand on the tiny net of tests/tiny.py (captum's style of test).

x = [[1, -2], [3, 0]], conv weights w = [1, -2], so at layer "conv" A^0 = x, A^1 = -2x =
[[-2, 4], [-6, 0]]; after the ReLU R^0 = [[1, 0], [3, 0]], R^1 = [[0, 4], [0, 0]]; pooled
(1, 1); logits y = W (1, 1) = (3, 2), so the top-1 class is 0.  Z = h * w = 4.

dy^c/dR^k_ij = W[c, k] / 4 everywhere; dy^c/dA^k_ij = W[c, k] / 4 * [A^k_ij > 0].
"""

import pytest
import torch

import camkit

from .tiny import X, tiny_net


def close(actual: torch.Tensor, expected: list) -> None:
    torch.testing.assert_close(actual, torch.tensor(expected, dtype=actual.dtype), rtol=0, atol=1e-6)


def raw(method, layer, target):
    return method(tiny_net(), layer)(X, target, upsample=False, normalize=False)[0]


def test_cam_is_class_weights_times_activations():
    # class 0: 1 * R^0 + 2 * R^1 = [[1, 8], [3, 0]]; class 1: 3 R^0 - R^1 = [[3, -4], [9, 0]] (no ReLU)
    close(raw(camkit.CAM, "relu", 0), [[1, 8], [3, 0]])
    close(raw(camkit.CAM, "relu", 1), [[3, -4], [9, 0]])


def test_grad_cam_at_the_conv_layer():
    # class 0: G^0 = .25 [x > 0] = [[.25, 0], [.25, 0]], G^1 = .5 [-2x > 0] = [[0, .5], [0, 0]]
    #   alpha = (.125, .125); ReLU(.125 x + .125 (-2x)) = ReLU(-.125 x) = [[0, .25], [0, 0]]
    close(raw(camkit.GradCAM, "conv", 0), [[0, 0.25], [0, 0]])
    # class 1: G^0 = .75 [x > 0], G^1 = -.25 [x < 0]; alpha = (1.5 / 4, -.25 / 4) = (.375, -.0625)
    #   ReLU(.375 x - .0625 (-2x)) = ReLU(.5 x) = [[.5, 0], [1.5, 0]]
    close(raw(camkit.GradCAM, "conv", 1), [[0.5, 0], [1.5, 0]])


def test_grad_cam_normalised_and_counterfactual():
    # min-max of [[.5, 0], [1.5, 0]] -> [[1/3, 0], [1, 0]]
    close(camkit.GradCAM(tiny_net(), "conv")(X, 1, upsample=False)[0], [[1 / 3, 0], [1, 0]])
    # negated gradients, class 1: ReLU(-.5 x) = [[0, 1], [0, 0]]
    counter = camkit.GradCAM(tiny_net(), "conv", counterfactual=True)
    close(counter(X, 1, upsample=False, normalize=False)[0], [[0, 1], [0, 0]])


def test_layer_cam_keeps_gradients_element_wise():
    # class 0: ReLU(G^0) A^0 + ReLU(G^1) A^1 = [[.25, 0], [.75, 0]] + [[0, 2], [0, 0]]
    close(raw(camkit.LayerCAM, "conv", 0), [[0.25, 2], [0.75, 0]])
    # class 1: ReLU(G^1) = 0, so .75 [x > 0] x = [[.75, 0], [2.25, 0]]
    close(raw(camkit.LayerCAM, "conv", 1), [[0.75, 0], [2.25, 0]])


def test_top1_is_the_default_target():
    close(raw(camkit.GradCAM, "conv", None), [[0, 0.25], [0, 0]])


@pytest.mark.parametrize(
    ("method", "target", "expected"),
    [
        # plain: dy/dx = sum_k W[c,k]/4 * w_k * [w_k x > 0]
        (camkit.InputGradient, 0, [[0.25, -1], [0.25, 0]]),  # k=0: .25 [x>0]; k=1: .5 * -2 [x<0]
        (camkit.InputGradient, 1, [[0.75, 0.5], [0.75, 0]]),  # .75 [x>0] + (-.25)(-2) [x<0]
        # guided: the ReLU also drops negative incoming gradients: class 1's k=1 (-.25) is cut
        (camkit.GuidedBackprop, 0, [[0.25, -1], [0.25, 0]]),
        (camkit.GuidedBackprop, 1, [[0.75, 0], [0.75, 0]]),
        # deconvnet ignores the forward mask: class 0: .25 * 1 + .5 * -2 = -.75 everywhere
        (camkit.Deconvnet, 0, [[-0.75, -0.75], [-0.75, -0.75]]),
        (camkit.Deconvnet, 1, [[0.75, 0.75], [0.75, 0.75]]),  # .75 * 1 + 0
    ],
)
def test_relu_rules(method, target, expected):
    close(method(tiny_net(inplace=True))(X, target)[0, 0], expected)


def test_guided_grad_cam_is_grad_cam_times_guided():
    # class 1: Grad-CAM raw [[.5, 0], [1.5, 0]] x guided [[.75, 0], [.75, 0]]
    guided_grad_cam = camkit.GuidedGradCAM(tiny_net(), "conv")
    close(guided_grad_cam(X, 1, normalize=False)[0, 0], [[0.375, 0], [1.125, 0]])
    # normalised Grad-CAM [[1/3, 0], [1, 0]] x guided
    close(guided_grad_cam(X, 1)[0, 0], [[0.25, 0], [0.75, 0]])


def test_grad_cam_times_z_is_relu_of_cam():
    # the identity of the Grad-CAM paper: alpha = W / Z at the layer that feeds the pooling
    grad_cam = raw(camkit.GradCAM, "relu", 1)
    close(grad_cam * 4, torch.relu(raw(camkit.CAM, "relu", 1)).tolist())
