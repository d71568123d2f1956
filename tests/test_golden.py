"""Golden values computed by hand on the tiny net of tests/tiny.py (captum's style of test).

x = [[1, -2], [3, 0]], conv weights w = [1, -2], so at layer "conv" A^0 = x, A^1 = -2x =
[[-2, 4], [-6, 0]]; after the ReLU R^0 = [[1, 0], [3, 0]], R^1 = [[0, 4], [0, 0]]; pooled
(1, 1); logits y = W (1, 1) = (3, 2), so the top-1 class is 0.  Z = h * w = 4.

dy^c/dR^k_ij = W[c, k] / 4 everywhere; dy^c/dA^k_ij = W[c, k] / 4 * [A^k_ij > 0].
"""

import math

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


def test_grad_cam_plus_plus_closed_form():
    # alpha = g^2 / (2 g^2 + sum(A) g^3) per pixel, w = sum alpha ReLU(g), ReLU(sum w A)
    # "relu", class 1: g = (.75, -.25) everywhere, sum R = (4, 4): alpha^0 = .5625 / (1.125 + 4 * .421875)
    #   = .2, w^0 = 4 * .2 * .75 = .6; ReLU(g^1) = 0 so w^1 = 0: .6 R^0 = [[.6, 0], [1.8, 0]]
    close(raw(camkit.GradCAMPlusPlus, "relu", 1), [[0.6, 0], [1.8, 0]])
    # class 0: g = (.25, .5): alpha = (.0625 / .1875, .25 / 1) = (1/3, 1/4), w = (1/3, 1/2):
    #   R^0 / 3 + R^1 / 2 = [[1/3, 2], [1, 0]]
    close(raw(camkit.GradCAMPlusPlus, "relu", 0), [[1 / 3, 2], [1, 0]])
    # "conv", class 1: g^0 = .75 [x > 0], sum A^0 = 2: alpha^0 = .5625 / (1.125 + .84375) = 2/7 on the
    #   two positive pixels, w^0 = 2 * 2/7 * .75 = 3/7; w^1 = 0 (g^1 <= 0): 3/7 [[1, 0], [3, 0]]
    close(raw(camkit.GradCAMPlusPlus, "conv", 1), [[3 / 7, 0], [9 / 7, 0]])
    # "conv", class 0: g^1 = .5 at A^1 = 4, sum A^1 = -4: 2 * .25 + (-4) * .125 = 0, the closed form's
    #   denominator vanishes and alpha is 0 there (an eps would make it .25 / eps); w^0 = 2 * .4 * .25 = .2
    close(raw(camkit.GradCAMPlusPlus, "conv", 0), [[0.2, 0], [0.6, 0]])


def test_xgrad_cam_weights_gradients_by_activation_share():
    # w^k = sum(A g) / sum(A). "conv", class 1: w^0 = (1 + 3) * .75 / 2 = 1.5, w^1 = 4 * -.25 / -4 = .25:
    #   ReLU(1.5 x + .25 (-2x)) = ReLU(x) = [[1, 0], [3, 0]]
    close(raw(camkit.XGradCAM, "conv", 1), [[1, 0], [3, 0]])
    # class 0: w^0 = (1 + 3) * .25 / 2 = .5, w^1 = 4 * .5 / -4 = -.5: ReLU(.5 x + x) = [[1.5, 0], [4.5, 0]]
    close(raw(camkit.XGradCAM, "conv", 0), [[1.5, 0], [4.5, 0]])
    # at the layer that feeds the pooling the gradient is constant: w = g, as Grad-CAM x Z
    close(raw(camkit.XGradCAM, "relu", 1), [[0.75, 0], [2.25, 0]])


def test_hires_cam_multiplies_gradient_and_activation_pixel_by_pixel():
    # "conv", class 0: .25 [x > 0] x + .5 [A^1 > 0] A^1 = [[.25, 0], [.75, 0]] + [[0, 2], [0, 0]]
    close(raw(camkit.HiResCAM, "conv", 0), [[0.25, 2], [0.75, 0]])
    # class 1: .75 [x > 0] x - .25 [A^1 > 0] A^1 = [[.75, -1], [2.25, 0]], then ReLU
    close(raw(camkit.HiResCAM, "conv", 1), [[0.75, 0], [2.25, 0]])


def test_eigen_cam_is_the_signed_first_principal_component():
    # "relu": pixels x channels [[1, 0], [0, 4], [3, 0], [0, 0]], centred by the mean (1, 1);
    #   X^T X = [[6, -4], [-4, 12]], eigenvalues 14 and 4, v = (1, -2) / sqrt 5; X v = (2, -7, 4, 1) / sqrt 5
    #   correlates negatively with the channel mean (.5, 2, 1.5, 0), so the sign flips: (-2, 7, -4, -1) / sqrt 5
    expected = [[0, 7 / 5 ** 0.5], [0, 0]]
    close(raw(camkit.EigenCAM, "relu", 0), expected)
    close(raw(camkit.EigenCAM, "relu", 1), expected)  # no class enters
    # "conv": every pixel is a multiple of (1, -2); centred by (.5, -1): X v = (2.5, -12.5, 12.5, -2.5) / sqrt 5,
    #   flipped to agree with the channel mean (-.5, 1, -1.5, 0)
    close(raw(camkit.EigenCAM, "conv", 1), [[0, 12.5 / 5 ** 0.5], [0, 2.5 / 5 ** 0.5]])


def test_ablation_cam_weights_are_relative_score_drops():
    # w^k = (y - y_k) / y with channel k zeroed. "relu": zeroing R^0 leaves pooled (0, 1), logits (2, -1);
    #   zeroing R^1 leaves (1, 0), logits (1, 3). Class 1 (y = 2): w = (1.5, -.5): ReLU(1.5 R^0 - .5 R^1)
    close(raw(camkit.AblationCAM, "relu", 1), [[1.5, 0], [4.5, 0]])
    # class 0 (y = 3): w = (1/3, 2/3): R^0 / 3 + 2 R^1 / 3 = [[1/3, 8/3], [1, 0]]
    close(raw(camkit.AblationCAM, "relu", 0), [[1 / 3, 8 / 3], [1, 0]])
    # "conv": the same drops (zeroing A^k zeroes R^k); class 1: ReLU(1.5 x - .5 (-2x)) = ReLU(2.5 x)
    close(raw(camkit.AblationCAM, "conv", 1), [[2.5, 0], [7.5, 0]])
    # class 0: ReLU(x / 3 + 2/3 (-2x)) = ReLU(-x) = [[0, 2], [0, 0]]; one channel per pass gives the same
    close(camkit.AblationCAM(tiny_net(), "conv", batch_size=1)(X, 0, upsample=False, normalize=False)[0], [[0, 2], [0, 0]])


def sigmoid(t: float) -> float:
    return 1 / (1 + math.exp(-t))


def test_score_cam_weights_are_class_probabilities_of_masked_inputs():
    # "relu": masks (min-max of R^k) H^0 = [[1/3, 0], [1, 0]], H^1 = [[0, 1], [0, 0]].
    #   X * H^0 = [[1/3, 0], [3, 0]]: R = ([[1/3, 0], [3, 0]], 0), pooled (5/6, 0), logits (5/6, 5/2);
    #   X * H^1 = [[0, -2], [0, 0]]: R = (0, [[0, 4], [0, 0]]), pooled (0, 1), logits (2, -1).
    #   Class 1: w = (p_1, p_1) = (sigmoid(5/3), sigmoid(-3)); map w^0 R^0 + w^1 R^1
    w0, w1 = sigmoid(5 / 3), sigmoid(-3)
    close(raw(camkit.ScoreCAM, "relu", 1), [[w0, 4 * w1], [3 * w0, 0]])
    w0, w1 = sigmoid(-5 / 3), sigmoid(3)  # class 0
    close(raw(camkit.ScoreCAM, "relu", 0), [[w0, 4 * w1], [3 * w0, 0]])
    # "conv": H^0 = min-max(x) = [[.6, 0], [1, .4]], H^1 = min-max(-2x) = [[.4, 1], [0, .6]];
    #   X * H^0 = [[.6, 0], [3, 0]]: logits (.9, 2.7); X * H^1 = [[.4, -2], [0, 0]]: R = ([[.4, 0], ..], [[0, 4], ..]),
    #   logits (2.1, -.7). Class 1: ReLU(w^0 x + w^1 (-2x)) = ReLU((w^0 - 2 w^1) x)
    coefficient = sigmoid(1.8) - 2 * sigmoid(-2.8)
    close(raw(camkit.ScoreCAM, "conv", 1), [[coefficient, 0], [3 * coefficient, 0]])


def test_score_cam_baseline_and_channel_softmax():
    # baseline 0: X_b = 0 gives logits (0, 0), p = 1/2 for each class; "relu", class 1:
    #   w = (sigmoid(5/3) - 1/2, sigmoid(-3) - 1/2) = (.341, -.453): ReLU([[w0, 4 w1], [3 w0, 0]])
    w0, w1 = sigmoid(5 / 3) - 0.5, sigmoid(-3) - 0.5
    with_baseline = camkit.ScoreCAM(tiny_net(), "relu", baseline=0.0)(X, 1, upsample=False, normalize=False)[0]
    close(with_baseline, [[w0, 0], [3 * w0, 0]])
    # channel softmax of the logits of class 1 (5/2, -1): (sigmoid(7/2), sigmoid(-7/2)); a baseline shifts both
    w0, w1 = sigmoid(3.5), sigmoid(-3.5)
    for baseline in (None, 0.0, 1.5):
        softmax = camkit.ScoreCAM(tiny_net(), "relu", weights="channel-softmax", baseline=baseline)
        close(softmax(X, 1, upsample=False, normalize=False)[0], [[w0, 4 * w1], [3 * w0, 0]])


def test_score_cam_spends_no_forward_pass_on_a_constant_channel():
    # x = [[1, 2], [3, 4]] > 0: R^1 = ReLU(-2x) = 0 is constant. H^0 = [[0, 1/3], [2/3, 1]], x * H^0 =
    #   [[0, 2/3], [2, 4]], pooled (5/3, 0), logits (5/3, 5): class 1 gets sigmoid(10/3) R^0, R^0 = x.
    #   channel softmax: R^1's score is the all-zero input's, y^1(0) = 0: w^0 = softmax(5, 0)_0 = sigmoid(5)
    positive = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    for weights, passes, w0 in (("probability", 2, sigmoid(10 / 3)), ("channel-softmax", 3, sigmoid(5))):
        net, images = tiny_net(), []
        net.register_forward_pre_hook(lambda _m, args: images.append(len(args[0])))
        got = camkit.ScoreCAM(net, "relu", weights=weights)(positive, 1, upsample=False, normalize=False)[0]
        close(got, [[w0, 2 * w0], [3 * w0, 4 * w0]])
        assert sum(images) == passes, weights  # the call, channel 0 (and the zero input)


def test_integrated_gradients_on_a_positively_homogeneous_net():
    # no biases and ReLU: y(a x) = a y(x), so the gradient is the same at every point of the path from
    # 0 and IG = x * dy/dx for any number of steps. Class 1: dy/dx = 3/4 [x > 0] + 2/4 [x < 0]
    #   = [[.75, .5], [.75, 0]]; IG = [[.75, -1], [2.25, 0]], summing to y(x) - y(0) = 2 exactly
    for steps in (1, 7):
        result = camkit.IntegratedGradients(tiny_net(), steps=steps).compute(X, 1)
        close(result.attributions[0, 0], [[0.75, -1], [2.25, 0]])
        assert result.score_difference.tolist() == [2.0] and result.completeness_error.abs().item() < 1e-6


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
