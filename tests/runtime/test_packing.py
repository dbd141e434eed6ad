"""Weight encodings and bit packing: hand-written byte vectors, round trips, rejections."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snnc.runtime.errors import ArtefactError
from snnc.runtime.packing import pack, packed_size, unpack, value_range


def test_two_bit_known_bytes():
    # codes 01, 11, 00, 01 -> bits (LSB first) 1,0, 1,1, 0,0, 1,0 -> 0b01001101
    assert pack([1, -1, 0, 1], 2) == bytes([0b01001101])


def test_one_bit_bipolar_known_bytes():
    # -1 -> 0, +1 -> 1; value i is bit i: [+1,-1,-1,+1,+1,+1,-1,-1, +1] -> 0b00111001, 0b00000001
    assert pack([1, -1, -1, 1, 1, 1, -1, -1, 1], 1) == bytes([0b00111001, 0b00000001])


def test_three_bit_crosses_byte_boundary():
    # 3 -> 011, -4 -> 100, -1 -> 111 ; stream 1,1,0, 0,0,1, 1,1,1 -> byte0 = 0b11100011, byte1 = 0b1
    assert pack([3, -4, -1], 3) == bytes([0b11100011, 0b00000001])


def test_four_bit_nibbles_low_first():
    assert pack([7, -8, -1, 0], 4) == bytes([0x87, 0x0F])


@pytest.mark.parametrize("bits,encoding,expected", [
    (1, "full", (-1, 1)), (2, "symmetric", (-1, 1)), (2, "full", (-2, 1)),
    (3, "symmetric", (-3, 3)), (4, "full", (-8, 7)), (4, "symmetric", (-7, 7)),
])
def test_value_ranges(bits, encoding, expected):
    assert value_range(bits, encoding) == expected


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 8), st.sampled_from(["symmetric", "full"]), st.integers(0, 40), st.integers(0, 2**32 - 1))
def test_round_trip(bits, encoding, count, seed):
    rng = np.random.default_rng(seed)
    if bits == 1:
        values = rng.choice([-1, 1], size=count)
    else:
        lo, hi = value_range(bits, encoding)
        values = rng.integers(lo, hi + 1, size=count)
    blob = pack(values, bits, encoding)
    assert len(blob) == packed_size(count, bits) == (count * bits + 7) // 8
    np.testing.assert_array_equal(unpack(blob, count, bits, encoding), values)


def test_rejects_zero_for_one_bit_and_out_of_range():
    with pytest.raises(ArtefactError, match="bipolar"):
        pack([1, 0], 1)
    with pytest.raises(ArtefactError, match=r"outside the 2-bit symmetric range \[-1, 1\]"):
        pack([-2], 2, "symmetric")


def test_unpack_rejects_padding_size_and_forbidden_code():
    with pytest.raises(ArtefactError, match="padding"):
        unpack(bytes([0b01001101 | 0]) + b"", 3, 2)  # the 4th value's bits are padding here
    with pytest.raises(ArtefactError, match="expected 1"):
        unpack(b"\x00\x00", 4, 2)
    with pytest.raises(ArtefactError, match="forbidden by the symmetric"):
        unpack(bytes([0b10]), 1, 2, "symmetric")


def test_weight_type_is_the_one_vocabulary():
    from snnc.runtime.packing import MAX_WEIGHT_BITS, WeightType

    assert [WeightType(b, "symmetric").min for b in (1, 2, 3, 4)] == [-1, -1, -3, -7]
    assert [WeightType(b, "full").min for b in (1, 2, 3, 4)] == [-1, -2, -4, -8]
    assert WeightType(4).max == 7 and WeightType(1).name == "BIPOLAR" and WeightType(3, "symmetric").name == "INT3_SYM"
    assert WeightType(1).allowed([-1, 1]) and not WeightType(1).allowed([0])
    assert not WeightType(2, "symmetric").allowed([-2]) and WeightType(2, "full").allowed([-2, 1])
    assert WeightType(2, "symmetric").quantize([-2.5, -0.5, 0.5, 1.5, 9.0]).tolist() == [-1, 0, 0, 1, 1]
    assert WeightType(1).quantize([-0.1, 0.0, 3.0]).tolist() == [-1, 1, 1]
    wt = WeightType(3, "full")
    v = np.array([-4, 3, 0, -1, 2])
    assert np.array_equal(wt.unpack(wt.pack(v), v.size), v)
    for bad in (0, MAX_WEIGHT_BITS + 1, 2.0, True):
        with pytest.raises(ValueError):
            WeightType(bad)
    with pytest.raises(ValueError):
        WeightType(2, "twos")


def test_the_weight_width_limit_is_one_number():
    """The schema (data), the loader, the spec schema and CompileOptions all read MAX_WEIGHT_BITS."""
    import json
    from pathlib import Path

    from snnc.runtime.packing import MAX_WEIGHT_BITS

    schema = json.loads((Path(__file__).resolve().parents[2] / "runtime" / "artefact_schema.json").read_text())
    assert schema["$defs"]["weight"]["properties"]["bits"]["maximum"] == MAX_WEIGHT_BITS
