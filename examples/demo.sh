#!/usr/bin/env bash
# The whole pipeline on what the repository ships (a trained LeNet-5 and 1,000 MNIST test images):
# check -> compile at 2-bit weights -> verify the golden vectors -> run -> accuracy vs the float model.
# Takes well under a minute on two cores. Artefacts go to $OUT (default: ./out).
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=examples/models/lenet5_mnist.onnx
DATA=examples/data/mnist_demo.npz
OUT=${OUT:-out}
mkdir -p "$OUT"
set -x
snnc check "$MODEL" --hw hw_v1 --bits 2
snnc compile "$MODEL" --hw hw_v1 --bits 2 --per-channel --calib "$DATA" --timesteps 32 -o "$OUT/lenet5_2bit.snn"
snnc verify "$OUT/lenet5_2bit.snn"
python -c "import numpy as np; np.save('$OUT/digits.npy', np.load('$DATA')['x'][:8, None])"
snnc run "$OUT/lenet5_2bit.snn" "$OUT/digits.npy" --timesteps 32
snnc eval "$MODEL" --hw hw_v1 --bits 2 --per-channel --calib "$DATA" --data "$DATA" --timesteps 8,16,32
