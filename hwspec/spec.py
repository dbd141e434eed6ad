"""The frozen hardware spec that the compiler and the emitted artefact read.

No limit lives in Python: every value here comes from a YAML file (see hw_v1.yaml and
docs/hwspec.md). `HardwareSpec.parameter_status` says, field by field, whether the value is
published or an assumption of the toolchain.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from snnc.runtime.manifest import spec_sha256  # the one definition (docs/artefact.md, "Canonical JSON")


@dataclass(frozen=True)
class HardwareSpec:
    name: str
    revision: str
    description: str
    source: str  # the file it was loaded from
    synapse_row_bits: int
    conv_in_channels_limit: Mapping[int, Mapping[int, int]]  # kernel size -> bits -> max in_channels
    weight_bits: tuple[int, ...]
    conv_requires_relu: bool
    host_layers: tuple[str, ...]
    core_layer_types: tuple[str, ...]
    weight_encoding: str
    per_channel_threshold: bool
    membrane_bits: int
    overflow: str
    fire_condition: str
    threshold_bits: int
    bias_bits: int
    reset_modes: tuple[str, ...]
    initial_membrane: tuple[str, ...]
    input_encodings: tuple[str, ...]
    input_bits: int
    max_neurons: int | None = None  # None: the spec sets no limit
    max_weight_memory_bits: int | None = None
    # a conv (+ folded BN) with no ReLU of its own, read only by a residual add followed by a ReLU,
    # integrates into the add's neurons (docs/semantics.md section 6, "the fused residual layer")
    fused_residual: bool = False
    parameter_status: Mapping[str, str] = field(default_factory=dict)  # field -> published|assumed
    parameter_notes: Mapping[str, str] = field(default_factory=dict)
    document: Mapping[str, Any] = field(default_factory=dict)  # the parsed YAML, for embedding

    @property
    def kernel_sizes(self) -> tuple[int, ...]:
        return tuple(sorted(self.conv_in_channels_limit))

    def check_bits(self, bits) -> int:
        """`bits` if the spec allows that weight width, else a SpecError saying which it allows
        (the one place a requested bit width is checked: CLI, Python API and eval sweeps)."""
        from snnc.hwspec.errors import SpecError

        if isinstance(bits, bool) or bits not in self.weight_bits:
            raise SpecError(f"--bits {bits}: the spec {self.name} allows {', '.join(map(str, self.weight_bits))}")
        return int(bits)

    def embedded_kernel(self, kernel: int, bits: int | None = None) -> int | None:
        """The table's kernel size a k x k convolution runs as: k itself, else the smallest k' > k of
        the table with k' - k even (the k x k kernel, centred and zero-padded to k' x k', with the
        conv's padding grown by (k' - k)/2 on every side, computes exactly the same outputs);
        None if there is none, or at 1 bit (bipolar weights have no zero to pad with)."""
        sizes = self.kernel_sizes
        if kernel in sizes:
            return kernel
        if bits == 1:
            return None
        bigger = [k for k in sizes if k > kernel and (k - kernel) % 2 == 0]
        return min(bigger) if bigger else None

    def conv_limit(self, kernel: int, bits: int) -> int | None:
        """Max in_channels of a k x k convolution at `bits` (through `embedded_kernel`), or None if
        the kernel size is not supported."""
        k = self.embedded_kernel(kernel, bits)
        row = self.conv_in_channels_limit.get(k) if k is not None else None
        return None if row is None else row.get(bits)

    def fits_conv(self, kernel: int, in_channels: int, bits: int) -> bool:
        limit = self.conv_limit(kernel, bits)
        return limit is not None and in_channels <= limit

    def largest_fitting_bits(self, kernel: int, in_channels: int) -> int | None:
        """The largest allowed bit width at which a k x k conv with `in_channels` fits, if any."""
        ok = [b for b in self.weight_bits if self.fits_conv(kernel, in_channels, b)]
        return max(ok) if ok else None

    def to_json_dict(self) -> dict[str, Any]:
        """The spec as plain JSON data (what an artefact embeds)."""
        return _jsonable(self.document)

    @property
    def sha256(self) -> str:
        return spec_sha256(self.to_json_dict())

    def target_block(self) -> dict[str, Any]:
        """The numeric parameters the runtime needs, under the runtime's field names."""
        return {
            "membrane_bits": self.membrane_bits,
            "overflow": self.overflow,
            "fire": self.fire_condition,
            "threshold_bits": self.threshold_bits,
            "bias_bits": self.bias_bits,
            "weight_encoding": self.weight_encoding,
            "input_bits": self.input_bits,
        }




def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


def freeze_table(table: Mapping[int, Mapping[int, int]]) -> Mapping[int, Mapping[int, int]]:
    return MappingProxyType({int(k): MappingProxyType({int(b): int(v) for b, v in row.items()}) for k, row in table.items()})
