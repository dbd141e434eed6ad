"""energy.py's synaptic-operation counts for a conv with input_dilation (a transposed convolution)."""
from __future__ import annotations

import numpy as np


def test_energy_fanout_of_a_dilated_conv():
    """The synaptic operations one input spike causes: brute force over outputs and taps of the dilated input."""
    import snnc.runtime as rt
    from snnc.compiler.energy import fanout_weights

    conv = rt.Conv("up", ["input"], (2, 8, 7), weight=np.ones((2, 1, 3, 2), np.int8), bits=2, padding=(2, 1, 3, 0),
                   input_dilation=(2, 3), neuron=rt.Neuron([2], [0, 0]))
    (fan,) = fanout_weights(conv, [(1, 3, 3)])
    want = np.zeros((3, 3), np.int64)
    for y in range(3):
        for x in range(3):
            want[y, x] = 2 * sum(1 for yo in range(8) for xo in range(7) for i in range(3) for j in range(2)
                                 if yo + i - 2 == y * 2 and xo + j - 1 == x * 3)
    assert np.array_equal(fan[0], want)
