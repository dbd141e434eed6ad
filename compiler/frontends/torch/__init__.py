"""The torch front end: `torch.export` programs into the snnc IR.

    load_pt2(path)                          # a .pt2 file saved with torch.export.save
    import_module(module, example_input)    # an nn.Module, exported here in eval mode
    import_program(exported_program)        # an ExportedProgram you already have

Importers live one module per op family and register themselves in `registry`, keyed by the
aten overload name; `registry.supported_ops()` lists what is covered. Importing this package
does not import torch: `import_module` and `import_program` import it when called, and
`load_pt2` only when the fast reader (`serialized.py`) hands a file to torch.
"""
from snnc.compiler.frontends.torch import (  # noqa: F401  (registration side effects)
    activation,
    conv,
    elementwise,
    linear,
    misc,
    norm,
    pool,
    shape,
)
from snnc.compiler.frontends.torch.convert import UnsupportedTorchOpsError, import_program
from snnc.compiler.frontends.torch.loader import export_module, import_module, load_pt2
from snnc.compiler.frontends.torch.registry import supported_ops

__all__ = ["load_pt2", "import_module", "import_program", "export_module", "supported_ops", "UnsupportedTorchOpsError"]
