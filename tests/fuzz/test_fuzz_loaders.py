"""Fuzzing the loaders with hypothesis: only project exceptions may escape (docs/security.md).

CI runs a few dozen deterministic cases per target (a few seconds in all). The long run:

    SNNC_FUZZ_EXAMPLES=5000 .venv/bin/python -m pytest -p no:cacheprovider tests/fuzz -q

(random rather than derandomized, 5,000 cases per target), or `tests/fuzz/run_fuzz.py` for
hundreds of thousands of cases without hypothesis' bookkeeping.
"""
from __future__ import annotations

import os

import pytest

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import targets as T

LONG = int(os.environ.get("SNNC_FUZZ_EXAMPLES", "0"))
FUZZ = settings(
    max_examples=LONG or 40,
    derandomize=not LONG,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def drawers(data):
    draw_int = lambda lo, hi: data.draw(st.integers(lo, hi))  # noqa: E731
    draw_choice = lambda seq: data.draw(st.sampled_from(list(seq)))  # noqa: E731
    return draw_int, draw_choice


def assert_clean(target, blob, **kw):
    exc = T.run_case(target, blob, **kw)
    assert exc is None, f"{type(exc).__name__} escaped {target.__name__}: {exc}"


def test_seeds_load():
    """The unmutated seeds are valid: the mutations start from inputs that get deep."""
    for target, key in ((T.target_onnx, "onnx"), (T.target_spec, "spec"), (T.target_data, "npz"),
                        (T.target_artefact, "artefact")):
        target(T.seed(key))
    T.target_onnx(T.seed("onnx"), pipeline=True)


@pytest.mark.slow
@FUZZ
@given(data=st.data())
def test_onnx_importer_structured(data):
    blob = T.mutate_onnx(*drawers(data), T.seed("onnx"))
    assert_clean(T.target_onnx, blob, pipeline=True)


@FUZZ
@given(data=st.data())
def test_onnx_importer_bytes(data):
    assert_clean(T.target_onnx, T.byte_mutations(T.seed("onnx"), *drawers(data)))


@FUZZ
@given(data=st.data())
def test_spec_loader(data):
    draw_int, draw_choice = drawers(data)
    blob = T.mutate_yaml(draw_int, draw_choice) if draw_int(0, 1) else T.byte_mutations(T.seed("spec"), draw_int, draw_choice)
    assert_clean(T.target_spec, blob)


@FUZZ
@given(data=st.data())
def test_data_loader(data):
    draw_int, draw_choice = drawers(data)
    kind = draw_int(0, 3)
    if kind == 0:
        blob, name = T.mutate_npz(draw_int, draw_choice), "calib.npz"
    else:
        key, name = {1: ("npz", "calib.npz"), 2: ("npzc", "calib.npz"), 3: ("npy", "calib.npy")}[kind]
        blob = T.byte_mutations(T.seed(key), draw_int, draw_choice)
    assert_clean(T.target_data, blob, name=name)


@FUZZ
@given(data=st.data())
def test_artefact_loader(data):
    assert_clean(T.target_artefact, T.byte_mutations(T.seed("artefact"), *drawers(data)))
