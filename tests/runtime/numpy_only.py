"""The prelude of the subprocess scripts that prove the runtime needs numpy alone: it makes every
import of the compiler, torch, onnx, yaml, click, hypothesis and numba fail."""
import textwrap

BLOCKED = ("torch", "onnx", "yaml", "snnc.compiler", "snnc.hwspec", "click", "hypothesis", "numba", "llvmlite")

PRELUDE = textwrap.dedent(f"""
    import sys
    BLOCKED = {BLOCKED!r}

    class Block:
        def find_spec(self, name, path=None, target=None):
            if any(name == b or name.startswith(b + ".") for b in BLOCKED):
                raise ImportError(f"blocked import: {{name}}")
            return None

    sys.meta_path.insert(0, Block())
""")
