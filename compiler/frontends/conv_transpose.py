"""ConvTranspose (ONNX ConvTranspose, torch nn.ConvTranspose2d) lowered to the IR's conv.

A transposed convolution with stride s, padding p (top, left, bottom, right), output padding op
(added at the bottom / right) and weight W_t (C_in, O, kh, kw) is, exactly, the convolution of
the input with s - 1 zeros inserted between its pixels (`input_dilation` s), zero padded by
k - 1 - p on each side (plus op at the bottom / right), with stride 1 and the spatially flipped,
in/out-swapped kernel w[o, c, i, j] = W_t[c, o, kh-1-i, kw-1-j] (docs/semantics.md section 6).
Output size (H - 1)*s - p_top - p_bottom + kh + op, as ONNX and torch define it.

Supported: groups 1, dilation 1, each padding <= kernel - 1 (else the lowered padding would be
negative: a crop), 0 <= output_padding < stride.
"""
from __future__ import annotations

import numpy as np


def conv_transpose_problems(kernel: tuple[int, int], stride: tuple[int, int], pads: tuple[int, int, int, int],
                            output_padding: tuple[int, int], groups: int, dilation: tuple[int, int]) -> list[str]:
    """The reasons a transposed convolution cannot be lowered (one phrase each; the caller names the node)."""
    out = []
    if groups != 1:
        out.append(f"groups={groups} (a transposed convolution is supported with groups=1 only)")
    if tuple(dilation) != (1, 1):
        out.append(f"dilation={list(dilation)} (a transposed convolution is supported with dilation 1 only)")
    kh, kw = kernel
    t, l, b, r = pads
    if min(pads) < 0:
        out.append(f"negative padding {list(pads)}")
    elif t > kh - 1 or b > kh - 1 or l > kw - 1 or r > kw - 1:
        out.append(f"padding {list(pads)} larger than kernel - 1 ({kh - 1}, {kw - 1}): the lowered convolution "
                   "would need negative padding (a crop)")
    if any(o < 0 or o >= s for o, s in zip(output_padding, stride)):
        out.append(f"output_padding={list(output_padding)} (each must be >= 0 and smaller than the stride "
                   f"{list(stride)})")
    return out


def lower_conv_transpose(weight: np.ndarray, stride: tuple[int, int], pads: tuple[int, int, int, int],
                         output_padding: tuple[int, int]) -> tuple[np.ndarray, dict]:
    """(the conv weight (O, C_in, kh, kw), the IR conv attributes) of a transposed convolution whose
    weight is (C_in, O, kh, kw); see the module docstring."""
    kh, kw = int(weight.shape[2]), int(weight.shape[3])
    t, l, b, r = (int(p) for p in pads)
    oh, ow = (int(o) for o in output_padding)
    w = np.ascontiguousarray(np.asarray(weight).transpose(1, 0, 2, 3)[:, :, ::-1, ::-1])
    attrs = {"stride": (1, 1), "padding": (kh - 1 - t, kw - 1 - l, kh - 1 - b + oh, kw - 1 - r + ow),
             "dilation": (1, 1), "groups": 1, "input_dilation": (int(stride[0]), int(stride[1]))}
    return w, attrs
