"""``magnet dataset``: pack a sponsor's files into a content-addressed dataset, show, verify."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from magnet_market.app import Session
from magnet_market.app.datasets import (
    load_manifest,
    publish_builtin,
    publish_dataset,
    verify_dataset,
)
from magnet_market.cli import main
from magnet_market.cli._common import (
    console,
    emit_json,
    json_option,
    key_value_table,
    print_table,
    store_options,
)
from magnet_market.datasets import KINDS, SPLITS, DatasetManifest, PackOptions
from magnet_market.datasets.pack import DEFAULT_MAX_BYTES
from magnet_market.tasks.builtin_data import BUILTINS, PINNED_CIDS


def _session(ipfs_api: str | None, store_path: Path | None) -> Session:
    session = Session.open(ipfs_api=ipfs_api, store_path=store_path)
    click.get_current_context().obj = session
    return session


@main.group("dataset")
def dataset() -> None:
    """Datasets as content: a folder of text, a table or a time series, named by one CID."""


@dataset.command("pack")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--kind", type=click.Choice(KINDS), required=True, help="What the data is.")
@click.option("--label", metavar="COL", help="tabular: the class column.")
@click.option("--time", "time_column", metavar="COL", help="series: the time column.")
@click.option("--val-fraction", type=float, default=0.1, show_default=True)
@click.option("--holdout-fraction", type=float, default=0.1, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the row split.")
@click.option(
    "--holdout-slices",
    type=click.IntRange(0, 120),
    default=2,
    show_default=True,
    help="Seal the holdout in this many slices, one per round of the task (0: leave it public).",
)
@click.option(
    "--max-bytes", type=int, default=DEFAULT_MAX_BYTES, show_default=True, help="Size limit."
)
@store_options
def pack_command(
    path: Path,
    kind: str,
    label: str | None,
    time_column: str | None,
    val_fraction: float,
    holdout_fraction: float,
    seed: int,
    holdout_slices: int,
    max_bytes: int,
    ipfs_api: str | None,
    store_path: Path | None,
) -> None:
    """Pack PATH into Parquet shards (train, validation, holdout), pin them and their manifest;
    print only the dataset CID (so scripts can capture it).

    The holdout is sealed: one encrypted slice per round, whose keys stay in this machine's
    $MAGNET_HOME/holdouts until `magnet sponsor run` reveals each after its round's reveals."""
    options = PackOptions(
        kind,
        label=label,
        time=time_column,
        val_fraction=val_fraction,
        holdout_fraction=holdout_fraction,
        seed=seed,
        max_bytes=max_bytes,
        holdout_slices=holdout_slices,
    )
    session = _session(ipfs_api, store_path)
    with console.status(f"packing {path.name}"):
        published = publish_dataset(session.store, path, options)
    click.echo(published.cid)


@dataset.command("builtin")
@click.argument("name", type=click.Choice(sorted(BUILTINS)))
@click.option(
    "--holdout-slices",
    type=click.IntRange(0, 120),
    default=0,
    show_default=True,
    help="Seal the holdout in this many slices (0: unsealed, the pinned CID).",
)
@store_options
def builtin(name: str, holdout_slices: int, ipfs_api: str | None, store_path: Path | None) -> None:
    """Pack and pin a built-in task's data (tinylm's frozen corpus, digits, the CO2 series) as a
    dataset; print only its CID. Unsealed, it is the CID pinned in the package, on any machine."""
    session = _session(ipfs_api, store_path)
    with console.status(f"packing the built-in {name} data"):
        published = publish_builtin(session.store, name, holdout_slices)
    if not holdout_slices and published.cid != PINNED_CIDS[name]:
        raise click.ClickException(
            f"{name} packed to {published.cid}, not the pinned {PINNED_CIDS[name]}: this "
            "machine's pyarrow, scikit-learn or statsmodels differs from the project's"
        )
    click.echo(published.cid)


@dataset.command("show")
@click.argument("cid")
@json_option
@store_options
def show(cid: str, as_json: bool, ipfs_api: str | None, store_path: Path | None) -> None:
    """Print a dataset's manifest: kind, columns, splits and shards, source."""
    manifest = load_manifest(_session(ipfs_api, store_path).store, cid)
    if as_json:
        emit_json({"cid": cid, **manifest.model_dump(mode="json")})
        return
    print_table(_summary(cid, manifest))
    print_table(_splits(manifest))


@dataset.command("verify")
@click.argument("cid")
@json_option
@store_options
def verify(cid: str, as_json: bool, ipfs_api: str | None, store_path: Path | None) -> None:
    """Fetch every shard, check its bytes against its CID and its content against the
    manifest; exit 1 if any shard fails."""
    with console.status(f"fetching {cid}"):
        check = verify_dataset(_session(ipfs_api, store_path).store, cid)
    if as_json:
        emit_json(check.as_dict())
    else:
        table = Table(title=f"dataset {cid}")
        for name in ("split", "shard", "rows", "check"):
            table.add_column(name)
        for s in check.shards:
            verdict = "[green]ok[/]" if s.ok else f"[red]{s.problem}[/]"
            table.add_row(s.split, s.cid, f"{s.rows:,}", verdict)
        print_table(table)
    if not check.ok:
        raise SystemExit(1)


def _summary(cid: str, m: DatasetManifest) -> Table:
    rows: list[tuple[str, object]] = [
        ("dataset", cid),
        ("kind", m.kind),
        ("rows", f"{m.rows:,}"),
        ("columns", ", ".join(f"{c.name} ({c.type})" for c in m.columns)),
    ]
    if m.label:
        rows.append(("label", f"{m.label}: {len(m.classes)} classes ({', '.join(m.classes[:10])})"))
    if m.time:
        rows.append(("time", m.time))
    if m.seal:
        rows.append(
            ("holdout", f"sealed in {m.slices} slices ({m.seal.cipher}), head {m.seal.head}")
        )
    rows += [
        ("source", f"{m.source.name}, {m.source.bytes:,} bytes"),
        ("notes", m.source.notes),
        ("packer", m.packer),
    ]
    return key_value_table("dataset", rows)


def _splits(m: DatasetManifest) -> Table:
    table = Table(title="splits")
    for name in ("split", "rows", "shards", "bytes"):
        table.add_column(name)
    for name in SPLITS:
        split = m.splits[name]
        size = sum(s.bytes for s in split.shards)
        shards = (
            f"{len(split.shards)} sealed" if name == "holdout" and m.seal else len(split.shards)
        )
        table.add_row(name, f"{split.rows:,}", str(shards), f"{size:,}")
    return table
