"""``magnet ipfs …``: add, fetch, pin and move content by CID, on the embedded store or a node.

Storage errors become one-line failures (exit 1) in ``MagnetGroup``; a malformed CID is a
usage error (exit 2) through the ``CID`` parameter type.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from magnet_market.cli import main
from magnet_market.storage import (
    CID,
    ContentStore,
    KuboStore,
    LocalStore,
    NotAFileError,
    StorageError,
    cid_of_path,
)


class _CIDType(click.ParamType):
    """A CID argument; a malformed one is a usage error (exit code 2)."""

    name = "CID"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> CID:
        try:
            return CID.parse(value)
        except StorageError as e:
            self.fail(str(e), param, ctx)


CID_ARG = _CIDType()


def _store() -> ContentStore:
    """The store selected on the group, created on first use (``--only-hash`` needs none)."""
    ctx = click.get_current_context()
    options = ctx.find_root().meta["magnet.ipfs"]
    if "store" not in options:
        if options["api"]:
            options["store"] = ctx.with_resource(
                KuboStore(options["api"], timeout=options["timeout"])
            )
        else:
            options["store"] = LocalStore(options["path"])  # None: $MAGNET_HOME/ipfs
    return options["store"]


@main.group("ipfs")
@click.option(
    "--api",
    envvar="MAGNET_IPFS_API",
    metavar="URL",
    help="RPC URL of an IPFS node (Kubo), e.g. http://127.0.0.1:5001. "
    "Without it the embedded LocalStore is used.",
)
@click.option(
    "--store",
    "path",
    envvar="MAGNET_STORE",
    type=click.Path(file_okay=False, path_type=Path),
    help="LocalStore folder [default: $MAGNET_HOME/ipfs, i.e. ~/.magnet/ipfs].",
)
@click.option(
    "--timeout", default=30.0, show_default=True, help="Seconds to wait for the node per read."
)
@click.pass_context
def ipfs(ctx: click.Context, api: str | None, path: Path | None, timeout: float) -> None:
    """Content-addressed storage: the same CIDs as an IPFS node, verified on every read."""
    ctx.find_root().meta["magnet.ipfs"] = {"api": api, "path": path, "timeout": timeout}


@ipfs.command("add")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--only-hash", is_flag=True, help="Only compute the CID; store nothing.")
@click.option(
    "--cid-version",
    type=click.Choice(["0", "1"]),
    default="1",
    show_default=True,
    help="1: base32 CIDv1 with raw leaves; 0: Qm… CIDv0.",
)
@click.option("--wrap", is_flag=True, help="Wrap the file or folder in a directory.")
@click.option("--no-pin", is_flag=True, help="Do not pin (garbage collection may remove it).")
def add(path: Path, only_hash: bool, cid_version: str, wrap: bool, no_pin: bool) -> None:
    """Add a file or folder; print only its CID (so scripts can capture it)."""
    version = int(cid_version)
    if only_hash:
        cid = cid_of_path(path, version, wrap=wrap)
    else:
        cid = _store().add_path(path, cid_version=version, wrap=wrap, pin=not no_pin)
    click.echo(str(cid))


@ipfs.command("get")
@click.argument("cid", type=CID_ARG)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="Write to this path (needed for a directory); default: stdout.",
)
def get(cid: CID, output: Path | None) -> None:
    """Fetch content by CID, verified against the CID before anything is kept."""
    store = _store()
    if output is not None:
        store.get_to_path(cid, output)
        return
    try:
        data = store.get(cid)  # whole and verified before the first byte reaches stdout
    except NotAFileError as e:
        raise click.ClickException(f"{e}; use -o PATH to write it out") from e
    click.echo(data, nl=False)  # bytes go to the binary stdout unchanged


@ipfs.command("pin")
@click.argument("cid", type=CID_ARG)
def pin(cid: CID) -> None:
    """Pin CID (and everything it links to)."""
    _store().pin(cid)


@ipfs.command("unpin")
@click.argument("cid", type=CID_ARG)
def unpin(cid: CID) -> None:
    """Remove the pin on CID; its blocks go at the next garbage collection."""
    _store().unpin(cid)


@ipfs.command("ls")
def ls() -> None:
    """List pinned CIDs, one per line."""
    for cid in _store().pins():
        click.echo(str(cid))


@ipfs.command("gc")
@click.confirmation_option(prompt="Delete every unpinned block from the local store?")
def gc() -> None:
    """Delete unpinned blocks from the embedded store (a node collects its own: `ipfs repo gc`)."""
    store = _store()
    if not isinstance(store, LocalStore):
        raise click.UsageError("gc applies to the embedded store only; drop --api")
    click.echo(f"removed {store.gc()} blocks")


@ipfs.group("car")
def car() -> None:
    """CAR v1 files: move content between stores and nodes with its CIDs unchanged."""


@car.command("export")
@click.argument("cid", type=CID_ARG)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
def car_export(cid: CID, output: Path) -> None:
    """Write the DAG of CID to a CAR file."""
    partial = output.with_name(f".{output.name}.part")
    try:
        with partial.open("wb") as f:
            _store().export_car(cid, f)
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)


@car.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--no-pin", is_flag=True, help="Do not pin the CAR's roots.")
def car_import(file: Path, no_pin: bool) -> None:
    """Import every block of a CAR file; print its root CIDs."""
    with file.open("rb") as f:
        for root in _store().import_car(f, pin=not no_pin):
            click.echo(str(root))
