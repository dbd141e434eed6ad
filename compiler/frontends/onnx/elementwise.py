"""Add -> add (two tensors, or tensor + constant as param 'const'); Mul by a constant -> mul."""
from __future__ import annotations

from snnc.compiler.frontends.onnx.context import ImportContext, OnnxNode
from snnc.compiler.frontends.onnx.registry import converter


def _split(node: OnnxNode, ctx: ImportContext) -> tuple[list[str], list[str]]:
    """(tensor inputs, constant inputs)"""
    ins = [node.input(0), node.input(1)]
    return [i for i in ins if not ctx.is_const(i)], [i for i in ins if ctx.is_const(i)]


@converter("Add", 11)
def add(node: OnnxNode, ctx: ImportContext) -> None:
    tensors, consts = _split(node, ctx)
    params = {"const": ctx.param(consts[0])} if consts else {}
    ctx.emit("add", tensors, node.outputs[0], name=node.name, params=params)


def _check_mul(node: OnnxNode, ctx: ImportContext) -> list[str]:
    tensors, _ = _split(node, ctx)
    return ["product of two tensors (only multiplication by a constant is supported)"] if len(tensors) == 2 else []


@converter("Mul", 11, check=_check_mul)
def mul(node: OnnxNode, ctx: ImportContext) -> None:
    tensors, consts = _split(node, ctx)
    ctx.emit("mul", tensors, node.outputs[0], name=node.name, params={"const": ctx.param(consts[0])})
