"""Weight encodings and the bit-packing of weight blobs.

Encoding of one b-bit weight value w as a code:
  b = 1: bipolar, code 0 -> -1, code 1 -> +1 (the value 0 does not exist).
  b >= 2: two's complement, code = w & (2^b - 1). Range "full" [-2^(b-1), 2^(b-1)-1];
          range "symmetric" [-(2^(b-1)-1), 2^(b-1)-1] (code 2^(b-1), i.e. -2^(b-1), is forbidden).
Packing: values in C order of the weight shape; value i occupies stream bits [i*b, (i+1)*b),
least significant code bit first; stream bit j is bit (j mod 8) (LSB = 0) of byte j // 8.
The blob has ceil(count*b/8) bytes and its padding bits are zero.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnc.runtime.errors import ArtefactError

ENCODINGS = ("symmetric", "full")
MAX_WEIGHT_BITS = 8  # the widest weight any layer may have (the one place this limit lives)


@dataclass(frozen=True)
class WeightType:
    """The vocabulary of one weight type (the compiler, fine-tuning and the runtime share it):
    `bits` wide (1..MAX_WEIGHT_BITS), `encoding` "symmetric" or "full" (1 bit: bipolar {-1, +1})."""

    bits: int
    encoding: str = "full"

    def __post_init__(self) -> None:
        if isinstance(self.bits, bool) or not isinstance(self.bits, (int, np.integer)) or not 1 <= self.bits <= MAX_WEIGHT_BITS:
            raise ValueError(f"weight bits must be an integer in 1..{MAX_WEIGHT_BITS}, got {self.bits!r}")
        if self.encoding not in ENCODINGS:
            raise ValueError(f"weight encoding {self.encoding!r} is not one of {', '.join(ENCODINGS)}")
        object.__setattr__(self, "bits", int(self.bits))

    @property
    def name(self) -> str:
        return "BIPOLAR" if self.bits == 1 else f"INT{self.bits}" + ("" if self.encoding == "full" else "_SYM")

    @property
    def min(self) -> int:
        return value_range(self.bits, self.encoding)[0]

    @property
    def max(self) -> int:
        return value_range(self.bits, self.encoding)[1]

    def allowed(self, q) -> bool:
        """Every value of `q` is representable (1 bit: only -1 and +1)."""
        q = np.asarray(q)
        if self.bits == 1:
            return bool(np.all((q == -1) | (q == 1)))
        return bool(np.all((q >= self.min) & (q <= self.max)))

    def quantize(self, scaled) -> np.ndarray:
        """Round values already divided by the step to the grid: round half to even, then clip
        (int64). 1 bit maps x >= 0 to +1 and x < 0 to -1."""
        scaled = np.asarray(scaled)
        if self.bits == 1:
            return np.where(scaled >= 0, 1, -1).astype(np.int64)
        return np.clip(np.rint(scaled), self.min, self.max).astype(np.int64)

    def pack(self, values, what: str = "weight") -> bytes:
        return pack(values, self.bits, self.encoding, what)

    def unpack(self, blob: bytes, count: int, what: str = "weight") -> np.ndarray:
        return unpack(blob, count, self.bits, self.encoding, what)


def value_range(bits: int, encoding: str) -> tuple[int, int]:
    """(min, max) of the integer values a `bits`-wide weight can hold (b = 1: bipolar)."""
    if bits == 1:
        return -1, 1
    hi = (1 << (bits - 1)) - 1
    return (-hi if encoding == "symmetric" else -hi - 1), hi


def check_values(values: np.ndarray, bits: int, encoding: str, what: str) -> None:
    """Raise ArtefactError naming `what` if any value is not representable."""
    v = np.asarray(values)
    if v.size == 0:
        return
    lo, hi = value_range(bits, encoding)
    bad = (v < lo) | (v > hi)
    if bits == 1:
        bad |= v == 0
    if bad.any():
        idx = np.unravel_index(int(np.argmax(bad)), v.shape)
        allowed = "{-1, +1}" if bits == 1 else f"[{lo}, {hi}]"
        raise ArtefactError(
            f"{what}: value {int(v[idx])} at index {tuple(int(i) for i in idx)} is outside the "
            f"{bits}-bit {'bipolar' if bits == 1 else encoding} range {allowed}"
        )


def packed_size(count: int, bits: int) -> int:
    return (count * bits + 7) // 8


def pack(values: np.ndarray, bits: int, encoding: str = "full", what: str = "weight") -> bytes:
    """Pack integer `values` (any shape, C order) into the blob format described above."""
    v = np.asarray(values).reshape(-1).astype(np.int64)
    check_values(v, bits, encoding, what)
    codes = (v > 0).astype(np.uint8) if bits == 1 else (v & ((1 << bits) - 1)).astype(np.uint8)
    # bit k of code i -> stream bit i*bits + k
    stream = ((codes[:, None] >> np.arange(bits, dtype=np.uint8)) & 1).astype(np.uint8).reshape(-1)
    return np.packbits(stream, bitorder="little").tobytes()


UNPACK_CHUNK = 1 << 20  # values decoded at once (a multiple of 8, so every chunk starts on a byte)


def unpack(blob: bytes, count: int, bits: int, encoding: str = "full", what: str = "weight") -> np.ndarray:
    """Inverse of `pack`: returns int8 values; rejects a wrong size, non-zero padding, forbidden codes.

    Decodes in chunks, so the memory it takes beyond the result is bounded (not 64 x the blob)."""
    expected = packed_size(count, bits)
    if len(blob) != expected:
        raise ArtefactError(f"{what}: blob has {len(blob)} bytes, expected {expected} ({count} values x {bits} bits)")
    raw = np.frombuffer(blob, dtype=np.uint8)
    tail = count * bits % 8
    if tail and raw[-1] >> tail:
        raise ArtefactError(f"{what}: non-zero padding bits after the last value")
    codes = np.empty(count, dtype=np.uint8)
    weights = (np.uint8(1) << np.arange(bits, dtype=np.uint8))
    for start in range(0, count, UNPACK_CHUNK):
        n = min(UNPACK_CHUNK, count - start)
        first = start * bits // 8
        stream = np.unpackbits(raw[first:first + packed_size(n, bits)], bitorder="little")[: n * bits]
        codes[start:start + n] = (stream.reshape(n, bits) * weights).sum(axis=1, dtype=np.uint8)
    if bits == 1:
        return (2 * codes.astype(np.int8) - 1).astype(np.int8)
    half = 1 << (bits - 1)
    values = np.where(codes >= half, codes.astype(np.int16) - (1 << bits), codes.astype(np.int16)).astype(np.int8)
    if encoding == "symmetric" and bits >= 2:
        forbidden = values == -half
        if forbidden.any():
            i = int(np.argmax(forbidden))
            raise ArtefactError(
                f"{what}: value {i} has the code {half} (= {-half}), forbidden by the symmetric {bits}-bit encoding"
            )
    return values
