"""`FinetuneOptions`: every option of `snnc finetune`, defined once (torch-free, so the CLI can
build its options from it without importing torch)."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from snnc.compiler.backend.options import option, validate_fields


@dataclass(frozen=True)
class FinetuneOptions:
    """Every option of `snnc finetune`, defined once: the CLI's options are generated from these
    fields (help, default, range), so the Python API and the CLI cannot disagree."""

    bits: int
    epochs: int = option(1, "Training epochs.", minimum=1)
    lr: float = option(5e-4, "Adam learning rate (cosine decay to 0).", minimum=0, positive=True)
    batch_size: int = option(128, "Training batch size.", minimum=1)
    per_channel: bool = option(False, "One threshold per output channel (compile with --per-channel too).")
    percentile: float = option(99.99, "Clip level of each layer: this percentile of its activations on the "
                               "calibration inputs.", minimum=50, maximum=100)
    act_levels: int = option(0, "Also round activations to this many levels in training (QCFS); 0: clip only.",
                             minimum=0)
    theta_every: int = 16
    calib_samples: int = option(1000, "Calibrate on the first this many inputs that `snnc compile --calib DATA` "
                                "reads (calib_x, else x_train, else x); compile with the same --calib-samples.",
                                minimum=1)
    input_scale: float | None = option(None, "Float value of one integer input step (default: from the data range).",
                                       positive=True)
    max_shift: int = option(0, "Random-shift augmentation of images, in pixels.", minimum=0)
    max_steps: int | None = option(None, "Stop after this many training steps (0: calibrate and export only).",
                                   minimum=0)
    recalibrate: str = "epoch"  # clip levels from the quantized model: at the start of every epoch, or only at "start"
    # > 0: train the SNN itself over this many steps (BPTT, snn.py); several: one drawn per batch; 0: the quantized ANN
    timesteps: int | tuple[int, ...] = 0
    reset: str = option("subtract", "With --timesteps: the reset compile will use (compile with the same).",
                        choices=("subtract", "zero"))
    v_init: str = option("half", "With --timesteps: the initial membrane compile will use (compile with the same).",
                         choices=("half", "zero"))
    device: str = option("auto", "auto (least-loaded GPU via GPUtil, else CPU), cpu, cuda or cuda:N.")
    seed: int = option(0, "Random seed.")

    def __post_init__(self) -> None:
        validate_fields(self)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
