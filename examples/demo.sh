#!/usr/bin/env bash
# The whole pipeline on what the repository ships: a LeNet-5 trained on MNIST and fine-tuned for
# 2-bit weights (examples/models/lenet5_mnist_qat2.onnx, made by examples/finetune_mnist.py from
# lenet5_mnist.onnx), and 1,000 MNIST test images (examples/data/mnist_demo.npz):
# check -> compile at 2-bit weights -> verify the golden vectors -> run -> SNN accuracy vs the
# float model. Well under a minute on two cores. Artefacts go to $OUT (default: ./out).
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=examples/models/lenet5_mnist_qat2.onnx
FLOAT=examples/models/lenet5_mnist.onnx
DATA=examples/data/mnist_demo.npz
OUT=${OUT:-out}
mkdir -p "$OUT"
set -x
snnc check "$MODEL" --hw hw_v1 --bits 2
snnc compile "$MODEL" --hw hw_v1 --bits 2 --norm max --per-channel --calibration off --calib "$DATA" --timesteps 16 -o "$OUT/lenet5_2bit.snn"
snnc verify "$OUT/lenet5_2bit.snn"
python -c "import numpy as np; np.save('$OUT/digits.npy', np.load('$DATA')['x'][:8, None])"
snnc run "$OUT/lenet5_2bit.snn" "$OUT/digits.npy" --timesteps 16
snnc eval "$OUT/lenet5_2bit.snn" --data "$DATA" --timesteps 4,8,16,32 --float-model "$FLOAT"
