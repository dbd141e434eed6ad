"""The torch quantizer gives exactly snnc's q and θ; the fake-quantization steps are straight-through."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from snnc.compiler.finetune.quantizer import ActQuant, quantize_weights_torch, straight_through  # noqa: E402
from snnc.compiler.backend.quantize import quantize_weights  # noqa: E402

SHAPES = [(6, 1, 5, 5), (16, 6, 3, 3), (40, 120), (3, 7)]


@pytest.mark.parametrize("bits", [1, 2, 3, 4])
@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("encoding", ["symmetric", "full"])
def test_same_q_and_theta_as_numpy(bits, per_channel, encoding):
    rng = np.random.default_rng(bits * 10 + per_channel + (encoding == "full") * 100)
    for shape in SHAPES:
        # scales from 1e-4 (θ in the thousands: compile's geometric candidates) to 1 (θ of a few)
        for scale in (1e-4, 3e-3, 0.1, 1.0):
            w = rng.normal(size=shape) * scale
            w[0] *= 10  # one channel much larger than the others
            ref = quantize_weights(w, bits, encoding, per_channel=per_channel, theta_max=65535)
            q, theta = quantize_weights_torch(torch.from_numpy(w), bits, encoding, per_channel=per_channel, theta_max=65535)
            assert np.array_equal(theta.numpy(), ref.theta), (shape, scale)
            assert np.array_equal(q.numpy().astype(np.int64), ref.q), (shape, scale)


def test_zero_channel_and_small_theta_max():
    w = np.random.default_rng(1).normal(size=(4, 9)) * 1e-3
    w[2] = 0.0
    for tmax in (15, 65535):
        ref = quantize_weights(w, 2, "symmetric", per_channel=True, theta_max=tmax)
        q, theta = quantize_weights_torch(torch.from_numpy(w), 2, "symmetric", per_channel=True, theta_max=tmax)
        assert np.array_equal(theta.numpy(), ref.theta) and np.array_equal(q.numpy().astype(np.int64), ref.q)


def test_straight_through_gradient_is_identity():
    x = torch.tensor([0.3, -1.2, 2.0], requires_grad=True)
    y = straight_through(x, torch.round(x.detach()))
    assert torch.equal(y.detach(), torch.tensor([0.0, -1.0, 2.0]))
    y.sum().backward()
    assert torch.equal(x.grad, torch.ones(3))


def test_activation_clip_and_levels():
    x = torch.tensor([-1.0, 0.1, 0.24, 0.26, 0.9, 1.5], requires_grad=True)
    assert torch.allclose(ActQuant(1.0)(x), torch.tensor([0.0, 0.1, 0.24, 0.26, 0.9, 1.0]))
    aq = ActQuant(1.0, levels=4)
    assert torch.allclose(aq.eval()(x), ActQuant(1.0)(x))  # eval mode: clip only
    y = aq.train()(x)  # λ/L·floor(x·L/λ + 1/2)
    assert torch.allclose(y, torch.tensor([0.0, 0.0, 0.25, 0.25, 1.0, 1.0]))
    y.sum().backward()
    assert torch.equal(x.grad, torch.tensor([0.0, 1.0, 1.0, 1.0, 1.0, 0.0]))  # zero outside (0, λ)
