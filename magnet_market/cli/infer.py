"""``magnet infer``: run a BitNet checkpoint with the packed 2-bit engine: continue text, or
classify a table's rows or call a series' next step (with the dataset the model learnt)."""

from __future__ import annotations

import codecs
from pathlib import Path

import click
import pyarrow as pa
import pyarrow.csv as pa_csv
import torch
from rich.console import Console
from rich.table import Table
from torch import nn

from magnet_market.app import Session
from magnet_market.app.datasets import fetch_dataset
from magnet_market.bitnet import checkpoint, kernel
from magnet_market.bitnet.errors import BitNetError
from magnet_market.bitnet.export import load_model, to_kernel_model
from magnet_market.bitnet.generate import SampleConfig, generate
from magnet_market.bitnet.model import Transformer, TransformerConfig
from magnet_market.cli import main
from magnet_market.cli._common import emit_json, json_option, print_table, store_options
from magnet_market.datasets import DatasetError
from magnet_market.datasets.local import LocalDataset
from magnet_market.tasks.series_dataset import SeriesDatasetData
from magnet_market.tasks.tabular import TabularData
from magnet_market.tasks.tinylm import encode


@main.command("infer")
@click.argument(
    "checkpoint_path",
    metavar="CHECKPOINT",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@click.option("--prompt", "-p", default=None, help="Text models: text to continue (UTF-8).")
@click.option(
    "--rows",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Classifiers: a CSV of rows to classify (a table's feature columns), or a series' most "
    "recent rows, oldest first (calls the next step).",
)
@click.option(
    "--dataset",
    "dataset_cid",
    metavar="CID",
    default=None,
    help="Classifiers: the dataset the model learnt (its columns, scale and classes).",
)
@json_option
@store_options
@click.option(
    "--max-new-tokens",
    "-n",
    default=128,
    show_default=True,
    type=click.IntRange(min=0),
    help="Bytes to generate.",
)
@click.option(
    "--temperature",
    "-t",
    default=0.0,
    show_default=True,
    type=click.FloatRange(min=0.0),
    help="0 is greedy; higher samples more freely.",
)
@click.option(
    "--top-k",
    "-k",
    default=None,
    type=click.IntRange(min=1),
    help="Sample only among the k most likely bytes.",
)
@click.option("--seed", default=0, show_default=True, help="Sampling seed.")
@click.option(
    "--threads", default=None, type=click.IntRange(min=1), help="CPU threads (default: torch's)."
)
def infer(
    checkpoint_path: Path,
    prompt: str | None,
    rows: Path | None,
    dataset_cid: str | None,
    as_json: bool,
    ipfs_api: str | None,
    store_path: Path | None,
    max_new_tokens: int,
    temperature: float,
    top_k: int | None,
    seed: int,
    threads: int | None,
) -> None:
    """Run the model in CHECKPOINT: continue --prompt (a text model), or classify --rows with
    the --dataset it learnt (a classifier: a table's class with its probabilities, or a series'
    next step, up or down).

    CHECKPOINT is a safetensors file written by MAGNET (a packed export, or a BitNet training
    checkpoint, which is packed on load; `magnet task model` fetches a task's). Only safetensors
    is read; nothing is executed.
    """
    console = Console(highlight=False)
    try:
        ckpt = checkpoint.load(checkpoint_path)
        if not ckpt.config.bitnet:
            raise click.ClickException("this is a full-precision model; infer runs BitNet models")
        model = load_model(ckpt)
        if ckpt.kind == "train":
            model = to_kernel_model(model)
        if threads is not None:
            torch.set_num_threads(threads)
        if not isinstance(ckpt.config, TransformerConfig):
            if rows is None or dataset_cid is None:
                raise click.UsageError("a classifier reads --rows FILE.csv with --dataset CID")
            session = Session.open(ipfs_api=ipfs_api, store_path=store_path)
            _classify(model, rows, fetch_dataset(session.store, dataset_cid), as_json)
            return
        if prompt is None:
            raise click.UsageError("a text model continues --prompt TEXT")
        assert isinstance(model, Transformer)
        path = kernel.best_path()
        cfg = SampleConfig(max_new_tokens, temperature, top_k, seed)
        console.print(prompt, end="", style="bold", markup=False)
        # bytes arrive one at a time; the incremental decoder holds back partial characters
        utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")

        def show(tok: int) -> None:
            console.print(utf8.decode(bytes([tok])), end="", markup=False)

        out = generate(model, encode(prompt), cfg, on_token=show)
        console.print(utf8.decode(b"", final=True), markup=False)
    except (BitNetError, DatasetError) as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from exc
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    table = Table(title="packed BitNet inference", show_header=False)
    table.add_row("tokens", str(len(out.tokens)))
    table.add_row("seconds", f"{out.seconds:.3f}")
    table.add_row("tokens/s", f"{out.tokens_per_second:.1f}")
    table.add_row("kernel", f"{path}, {torch.get_num_threads()} thread(s)")
    console.print(table)


def _classify(model: nn.Module, rows: Path, dataset: LocalDataset, as_json: bool) -> None:
    """Each row's class and probabilities (a table), or the next step's call (a series)."""
    try:
        table = pa_csv.read_csv(rows)
    except (pa.ArrowInvalid, OSError) as e:
        raise DatasetError(f"{rows}: not a readable CSV: {e}") from None
    kind = dataset.manifest.kind
    if kind == "tabular":
        data = TabularData(dataset.folder)
        x, classes = data.features_of(table), data.classes
    elif kind == "series":
        x, classes = SeriesDatasetData(dataset.folder).window_of(table), ("down", "up")
    else:
        raise DatasetError(f"a {kind} dataset trains a text model: use --prompt")
    with torch.no_grad():
        logits, _ = model(x)
    probs = torch.softmax(logits.double(), dim=-1)
    shares = [{c: round(float(v), 6) for c, v in zip(classes, p, strict=True)} for p in probs]
    called = [classes[int(p.argmax())] for p in probs]
    if as_json:
        emit_json(
            [
                {"row": i + 1, "class": c, "probabilities": share}
                for i, (c, share) in enumerate(zip(called, shares, strict=True))
            ]
        )
        return
    out = Table(title=f"{rows.name}: {'next step' if kind == 'series' else 'classes'}")
    for name in ("row", "class", *classes):
        out.add_column(name)
    for i, (c, share) in enumerate(zip(called, shares, strict=True)):
        out.add_row(str(i + 1), c, *(f"{share[k]:.3f}" for k in classes))
    print_table(out)
