"""Make the helpers next to these tests (tiny_models) importable under --import-mode=importlib."""
import sys
from pathlib import Path

HERE = str(Path(__file__).parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
