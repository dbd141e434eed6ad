"""`snnc export ART.snn --nir OUT.nir` and back, `snnc export --from-nir IN.nir --out ART.snn` (docs/nir.md).

Needs the optional package nir (pip install nir). Both directions write atomically (a temporary
file renamed into place): a failed export leaves no partial file. Exit 0 written, 2 bad input
(missing nir, unreadable or corrupt artefact or NIR file, a layer NIR cannot express).
"""
from __future__ import annotations

import click

from snnc.compiler.cli.common import fail, handle_user_errors


@click.command("export")
@click.argument("artefact", required=False, type=click.Path(dir_okay=False), metavar="[ART.snn]")
@click.option("--nir", "nir_out", type=click.Path(dir_okay=False), default=None, metavar="OUT.nir",
              help="Write ART.snn as a NIR graph (HDF5): NIR primitives, exact integers in metadata.")
@click.option("--from-nir", "nir_in", type=click.Path(dir_okay=False), default=None, metavar="IN.nir",
              help="The other direction: read a NIR file written by --nir and write the artefact to --out.")
@click.option("--out", "-o", "out", type=click.Path(dir_okay=False), default=None, metavar="ART.snn",
              help="With --from-nir: the artefact to write (byte-identical to the one exported).")
@handle_user_errors
def export_cmd(artefact, nir_out, nir_in, out):
    """Export an artefact to NIR (--nir), or import one written that way (--from-nir ... --out)."""
    if nir_in is not None:
        if artefact is not None or nir_out is not None:
            fail("--from-nir takes no ART.snn argument and no --nir (snnc export --from-nir IN.nir --out ART.snn)")
        if out is None:
            fail("--from-nir: --out ART.snn is required (the artefact to write)")
        from snnc.compiler.export.nir import import_nir

        path = import_nir(nir_in, out)
        click.echo(f"wrote {path} (from {nir_in})")
        return
    if artefact is None or nir_out is None:
        fail("give ART.snn --nir OUT.nir (export) or --from-nir IN.nir --out ART.snn (import)")
    if out is not None:
        fail("--out belongs to --from-nir; the NIR file is --nir OUT.nir")
    from snnc.compiler.export.nir import write_nir

    path = write_nir(artefact, nir_out)
    click.echo(f"wrote {path} (NIR graph of {artefact}; import it back with snnc export --from-nir {path} --out ART.snn)")
