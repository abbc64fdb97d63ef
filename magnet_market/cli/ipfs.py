"""``magnet ipfs …``: add, fetch, pin and move content by CID, on the embedded store or a node.

Storage errors become one-line failures (exit 1) in ``MagnetGroup``; a malformed CID is a
usage error (exit 2) through the ``CID`` parameter type.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from magnet_market._atomic import atomic_file
from magnet_market.app import Session
from magnet_market.app.content_store import (
    CID,
    ContentStore,
    NotAFileError,
    StorageError,
    cid_of_path,
    collect_garbage,
)
from magnet_market.cli import main


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
    """The store selected on the group, opened on first use (``--only-hash`` needs none)."""
    session = click.get_current_context().find_object(Session)
    if session is None:
        raise click.UsageError("the ipfs commands run under `magnet ipfs`")
    return session.store


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
    session = Session.open(ipfs_api=api, store_path=path, store_timeout=timeout)
    ctx.obj = ctx.with_resource(session)


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
    try:
        removed = collect_garbage(_store())
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    click.echo(f"removed {removed} blocks")


@ipfs.group("car")
def car() -> None:
    """CAR v1 files: move content between stores and nodes with its CIDs unchanged."""


@car.command("export")
@click.argument("cid", type=CID_ARG)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
def car_export(cid: CID, output: Path) -> None:
    """Write the DAG of CID to a CAR file."""
    with atomic_file(output) as f:
        _store().export_car(cid, f)


@car.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--no-pin", is_flag=True, help="Do not pin the CAR's roots.")
def car_import(file: Path, no_pin: bool) -> None:
    """Import every block of a CAR file; print its root CIDs."""
    with file.open("rb") as f:
        for root in _store().import_car(f, pin=not no_pin):
            click.echo(str(root))
