"""The `snnc` command line: a thin click group; one module per command."""
