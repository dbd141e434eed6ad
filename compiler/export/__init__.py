"""Exporters of artefacts to other tools' formats: NIR (`nir.py`, docs/nir.md)."""
