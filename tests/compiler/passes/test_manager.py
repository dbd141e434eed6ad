import pytest

from snnc.compiler.errors import PassError, SnncError
from snnc.compiler.ir.verify import verify
from snnc.compiler.passes import Canonicalize, PassManager, ShapeInference
from snnc.compiler.passes.manager import Pass


def small(B, rng):
    b = B((None, 2, 6, 6))
    b.add("conv", weight=rng.normal(size=(3, 2, 3, 3)))
    b.add("identity")
    b.add("relu")
    return b.build()


class Breaks(Pass):
    """Deliberately broken: deletes the first node, so its readers read an unwritten value."""

    name = "broken"

    def run(self, graph):
        graph.nodes.pop(0)
        return graph


class Raises(Pass):
    name = "raises"

    def run(self, graph):
        raise SnncError("node conv0: something is wrong")


class Buggy(Pass):
    name = "buggy"

    def run(self, graph):
        raise ValueError("oops")


class NeedsShapes(Pass):
    name = "needs_shapes"
    requires = ("shapes",)

    def run(self, graph):
        return graph


class ClaimsCanonical(Pass):
    name = "claims_canonical"
    ensures = ("canonical",)

    def run(self, graph):
        return graph


def test_runs_in_order_and_records_history(B, rng):
    pm = PassManager([Canonicalize(), ShapeInference()])
    out = pm.run(small(B, rng))
    assert pm.history == ["canonicalize", "shape_inference"]
    assert [n.op for n in out.nodes] == ["conv", "relu"]
    assert out.shape(out.outputs[0]) == (None, 3, 4, 4)


def test_does_not_mutate_the_input(B, rng):
    g = small(B, rng)
    PassManager([Canonicalize()]).run(g)
    assert [n.op for n in g.nodes] == ["conv", "identity", "relu"]


def test_invalid_ir_names_the_pass_and_its_predecessors(B, rng):
    pm = PassManager([Canonicalize(), ShapeInference(), Breaks(), ShapeInference()])
    with pytest.raises(PassError) as exc:
        pm.run(small(B, rng))
    msg = str(exc.value)
    assert "pass 'broken' left the IR invalid" in msg
    assert "passes run before it: canonicalize, shape_inference" in msg
    assert "before it is written" in msg  # the verifier's finding
    assert exc.value.pass_name == "broken" and exc.value.before == ["canonicalize", "shape_inference"]


def test_first_pass_failure_says_none_before(B, rng):
    with pytest.raises(PassError, match="passes run before it: none"):
        PassManager([Breaks()]).run(small(B, rng))


def test_user_error_inside_a_pass_becomes_pass_error(B, rng):
    with pytest.raises(PassError, match=r"(?s)pass 'raises' failed.*node conv0.*before it: canonicalize"):
        PassManager([Canonicalize(), Raises()]).run(small(B, rng))


def test_bug_in_a_pass_keeps_its_traceback_and_names_the_pass(B, rng):
    with pytest.raises(ValueError) as exc:
        PassManager([Canonicalize(), Buggy()]).run(small(B, rng))
    assert any("in pass 'buggy'" in n and "canonicalize" in n for n in exc.value.__notes__)


def test_requires_checked_before_the_pass(B, rng):
    g = small(B, rng)
    g.values["conv0_y"].shape = None
    with pytest.raises(PassError, match=r"(?s)'needs_shapes' its requirements.*conv0_y"):
        PassManager([NeedsShapes()]).run(g)
    PassManager([ShapeInference(), NeedsShapes()]).run(g)


def test_ensures_checked_after_the_pass(B, rng):
    with pytest.raises(PassError, match=r"(?s)claims_canonical.*identity.*not canonical"):
        PassManager([ClaimsCanonical()]).run(small(B, rng))


def test_dump_dir_and_callback(B, rng, tmp_path):
    seen = []

    def on_step(i, p, graph):
        seen.append((i, p.name))
        assert verify(graph) == []  # the IR verifies after each pass

    PassManager([Canonicalize(), ShapeInference()], dump_dir=tmp_path, on_step=on_step).run(small(B, rng))
    assert seen == [(1, "canonicalize"), (2, "shape_inference")]
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["00_input.txt", "01_canonicalize.txt", "02_shape_inference.txt"]
    assert "identity" in (tmp_path / "00_input.txt").read_text()
    assert "identity" not in (tmp_path / "01_canonicalize.txt").read_text()
    assert "Nx3x4x4" in (tmp_path / "02_shape_inference.txt").read_text()
