"""Regenerate `tests/compiler/frontends/onnx/fixtures/keras_cnn.onnx` (and its reference I/O).

This fixture is a **real tf2onnx export**: it was produced by running this script with
TensorFlow (tensorflow-cpu 2.21, Keras 3) and tf2onnx 1.17 in a throwaway virtual environment,
not by hand-writing the node patterns. TensorFlow is needed only to regenerate the file; the
tests (and CI) read the committed .onnx and .npz and never import TensorFlow.

    python3 -m venv /tmp/tfvenv && /tmp/tfvenv/bin/pip install tensorflow-cpu tf2onnx
    /tmp/tfvenv/bin/python examples/keras/make_keras_fixture.py

The model is a small Keras CNN for 16x16x3 (NHWC) inputs with the layers a Keras user writes:
Conv2D + BatchNormalization + ReLU, AveragePooling2D, Flatten, Dense + BatchNormalization + ReLU,
Dropout, Dense. What tf2onnx emits for it (and what snnc must handle): a Transpose NHWC -> NCHW
after the input, Conv with the BatchNormalization already fused into its weights, a Transpose
back to NHWC before the Flatten, the Flatten as Shape/Gather/Slice/Concat/Cast arithmetic feeding
a Reshape, each Dense as MatMul + Add, and the BatchNormalization after a Dense as Mul + Add. Weights are
random but seeded, and the BatchNormalization statistics are set to non-trivial values so that
a wrong folding would show. Alongside the .onnx it writes `keras_cnn_io.npz`: four inputs (NHWC)
and Keras's own outputs for them, so tests can check snnc's import numerically without
TensorFlow.
"""
from __future__ import annotations

import argparse
import os

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "..", "..", "tests", "compiler", "frontends", "onnx", "fixtures")
OPSET = 17


def build_model():
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    inp = keras.Input(shape=(16, 16, 3), name="image")
    x = layers.Conv2D(8, 3, padding="same", use_bias=False, name="conv1")(inp)
    x = layers.BatchNormalization(name="bn1")(x)
    x = layers.ReLU(name="relu1")(x)
    x = layers.AveragePooling2D(2, name="pool1")(x)
    x = layers.Conv2D(16, 3, padding="same", name="conv2")(x)
    x = layers.BatchNormalization(name="bn2")(x)
    x = layers.ReLU(name="relu2")(x)
    x = layers.AveragePooling2D(2, name="pool2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(32, name="fc1")(x)
    x = layers.BatchNormalization(name="bn3")(x)  # after a Dense: tf2onnx writes it as Mul + Add
    x = layers.ReLU(name="relu3")(x)
    x = layers.Dropout(0.25, name="drop")(x)
    out = layers.Dense(10, name="fc2")(x)
    model = keras.Model(inp, out, name="keras_cnn")
    rng = np.random.default_rng(0)
    for dense in ("fc1", "fc2"):  # non-zero biases, or tf2onnx drops the Add of zeros
        layer = model.get_layer(dense)
        w, b = layer.get_weights()
        layer.set_weights([w, rng.normal(0, 0.1, b.shape).astype(np.float32)])
    for bn in ("bn1", "bn2", "bn3"):
        layer = model.get_layer(bn)
        gamma, beta, mean, var = layer.get_weights()
        c = gamma.shape[0]
        layer.set_weights([
            rng.uniform(0.5, 1.5, c).astype(np.float32), rng.normal(0, 0.1, c).astype(np.float32),
            rng.normal(0, 0.1, c).astype(np.float32), rng.uniform(0.5, 2.0, c).astype(np.float32),
        ])
    return model


def seed_batchnorm(model, rng) -> None:
    """Non-trivial statistics for every BatchNormalization layer (so a wrong folding would show)."""
    from keras import layers

    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            c = layer.get_weights()[0].shape[0]
            layer.set_weights([
                rng.uniform(0.5, 1.5, c).astype(np.float32), rng.normal(0, 0.1, c).astype(np.float32),
                rng.normal(0, 0.1, c).astype(np.float32), rng.uniform(0.5, 2.0, c).astype(np.float32),
            ])


def export(model, shape, name: str, out: str, *, script: str, optimizers: bool = True, inputs: int = 4,
           seed: int = 1) -> str:
    """tf2onnx-export `model` (NHWC input `shape`, dynamic batch) to OUT/NAME.onnx, and write
    OUT/NAME_io.npz: `inputs` seeded uniform [0, 1) inputs and Keras's outputs for them.

    optimizers=False exports as tf2onnx does with every optimizer off (`optimize_graph` with an
    empty set): its Transpose pairs around Conv, BatchNormalization and pooling are left in place."""
    import tensorflow as tf
    import tf2onnx

    spec = (tf.TensorSpec((None, *shape), tf.float32, name="image"),)

    @tf.function(input_signature=spec)
    def forward(x):
        return model(x, training=False)

    convert = tf2onnx.convert._convert_common
    if not optimizers:  # from_function has no optimizers argument; _convert_common does
        tf2onnx.convert._convert_common = lambda *a, **k: convert(*a, **{**k, "optimizers": {}})
    try:
        proto, _ = tf2onnx.convert.from_function(forward, input_signature=spec, opset=OPSET)
    finally:
        tf2onnx.convert._convert_common = convert
    how = "" if optimizers else " (tf2onnx optimizers off)"
    proto.producer_name, proto.doc_string = "tf2onnx", f"{name}: examples/keras/{script}{how}"
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, f"{name}.onnx")
    with open(path, "wb") as f:
        f.write(proto.SerializeToString())
    x = np.random.default_rng(seed).uniform(0, 1, (inputs, *shape)).astype(np.float32)
    y = model(x, training=False).numpy()
    np.savez(os.path.join(out, f"{name}_io.npz"), x=x, y=y)
    print(f"wrote {path} ({os.path.getsize(path)} bytes; tf {tf.__version__}, tf2onnx {tf2onnx.__version__}, "
          f"opset {OPSET}{how}); ops: {sorted({n.op_type for n in proto.graph.node})}")
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT, help="folder for keras_cnn.onnx and keras_cnn_io.npz")
    args = ap.parse_args()
    export(build_model(), (16, 16, 3), "keras_cnn", args.out, script="make_keras_fixture.py")


if __name__ == "__main__":
    main()
