"""`snnc eval --report DIR`: a Markdown report (`report.md`) with PNG plots.

`markdown.write_report` renders the same result dictionary that `snnc eval --format json`
prints, plus the per-layer arrays only the report needs (correlation points, histograms).
matplotlib (the `report` extra) is imported only here, lazily, with the Agg backend.
"""
from snnc.compiler.report.markdown import ConfigPlots, write_report

__all__ = ["ConfigPlots", "write_report"]
