"""Regenerate the tf2onnx fixtures beyond the plain CNN (issue 14), each a **real tf2onnx export**:

- `keras_resnet.onnx`: residual blocks as a Keras user writes them (Conv2D-BN-ReLU-Conv2D-BN-Add-ReLU;
  the second block downsamples, with a 1x1 Conv2D + BN projection on the shortcut), then
  GlobalAveragePooling2D and Dense;
- `keras_gap.onnx`: Conv2D-BN-ReLU twice, GlobalAveragePooling2D, Dense — global average pooling
  as tf2onnx writes it;
- `keras_cnn_noopt.onnx`: the CNN of `make_keras_fixture.py` (same seeded weights) exported with
  every tf2onnx optimizer off, so its NCHW<->NHWC Transpose pairs around Conv, BatchNormalization
  and pooling stay in the file; `keras_resnet_noopt.onnx` and `keras_gap_noopt.onnx` likewise
  (their GlobalAveragePooling2D is a ReduceMean over axes 1, 2 of the NHWC map).

Each comes with `<name>_io.npz`: four seeded NHWC inputs and Keras's own outputs for them. As for
`keras_cnn.onnx`, TensorFlow is needed only here, in a throwaway virtual environment; the tests
read the committed files and never import it:

    python3 -m venv /tmp/tfvenv && /tmp/tfvenv/bin/pip install tensorflow-cpu tf2onnx
    /tmp/tfvenv/bin/python examples/keras/make_keras_breadth.py

(tensorflow-cpu 2.21, Keras 3, tf2onnx 1.17, opset 17. A rerun gives the same graphs and
weights to float rounding, not byte-identical files: tf2onnx's node-name counters and the
constants it folds vary by a few ulps.)
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_keras_fixture import DEFAULT_OUT, build_model, export, seed_batchnorm

SCRIPT = "make_keras_breadth.py"
SHAPE = (16, 16, 3)


def _dense_bias(model, names, rng) -> None:
    for name in names:  # non-zero biases, or tf2onnx drops the Add of zeros
        layer = model.get_layer(name)
        w, b = layer.get_weights()
        layer.set_weights([w, rng.normal(0, 0.1, b.shape).astype(np.float32)])


def build_resnet():
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)

    def conv_bn(x, filters, k, stride, name, relu=True):
        x = layers.Conv2D(filters, k, strides=stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
        return layers.ReLU(name=f"{name}_relu")(x) if relu else x

    def block(x, filters, stride, name):
        y = conv_bn(x, filters, 3, stride, f"{name}_a")
        y = conv_bn(y, filters, 3, 1, f"{name}_b", relu=False)
        shortcut = x if stride == 1 and x.shape[-1] == filters else conv_bn(x, filters, 1, stride, f"{name}_proj", relu=False)
        return layers.ReLU(name=f"{name}_out")(layers.Add(name=f"{name}_add")([y, shortcut]))

    inp = keras.Input(shape=SHAPE, name="image")
    x = conv_bn(inp, 8, 3, 1, "stem")
    x = block(x, 8, 1, "block1")    # identity shortcut
    x = block(x, 16, 2, "block2")   # 1x1 stride-2 projection shortcut
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    out = layers.Dense(10, name="fc")(x)
    model = keras.Model(inp, out, name="keras_resnet")
    rng = np.random.default_rng(0)
    _dense_bias(model, ["fc"], rng)
    seed_batchnorm(model, rng)
    return model


def build_gap():
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    inp = keras.Input(shape=SHAPE, name="image")
    x = inp
    for i, filters in enumerate((8, 16), 1):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv{i}")(x)
        x = layers.BatchNormalization(name=f"bn{i}")(x)
        x = layers.ReLU(name=f"relu{i}")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    out = layers.Dense(10, name="fc")(x)
    model = keras.Model(inp, out, name="keras_gap")
    rng = np.random.default_rng(0)
    _dense_bias(model, ["fc"], rng)
    seed_batchnorm(model, rng)
    return model


FIXTURES = {
    "keras_resnet": (build_resnet, True),
    "keras_gap": (build_gap, True),
    "keras_cnn_noopt": (build_model, False),
    "keras_resnet_noopt": (build_resnet, False),
    "keras_gap_noopt": (build_gap, False),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT, help="folder for the .onnx and _io.npz files")
    ap.add_argument("--only", choices=sorted(FIXTURES), action="append", help="only these fixtures")
    args = ap.parse_args()
    for name in args.only or FIXTURES:
        build, optimizers = FIXTURES[name]
        export(build(), SHAPE, name, args.out, script=SCRIPT, optimizers=optimizers)


if __name__ == "__main__":
    main()
