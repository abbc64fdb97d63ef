"""``magnet infer``: generate text from a BitNet checkpoint with the packed 2-bit engine."""

from __future__ import annotations

import codecs
from pathlib import Path

import click
import torch
from rich.console import Console
from rich.table import Table

from magnet_market.bitnet import checkpoint, kernel
from magnet_market.bitnet.errors import BitNetError
from magnet_market.bitnet.export import load_model, to_kernel_model
from magnet_market.bitnet.generate import SampleConfig, generate
from magnet_market.bitnet.model import Transformer, TransformerConfig
from magnet_market.cli import main
from magnet_market.tasks.tinylm import encode


@main.command("infer")
@click.argument(
    "checkpoint_path",
    metavar="CHECKPOINT",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@click.option("--prompt", "-p", required=True, help="Text to continue (UTF-8, byte-level).")
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
    prompt: str,
    max_new_tokens: int,
    temperature: float,
    top_k: int | None,
    seed: int,
    threads: int | None,
) -> None:
    """Generate a continuation of PROMPT with the model in CHECKPOINT and report tokens/s.

    CHECKPOINT is a safetensors file written by MAGNET (a packed export, or a BitNet training
    checkpoint, which is packed on load). Only safetensors is read; nothing is executed.
    """
    console = Console(highlight=False)
    try:
        ckpt = checkpoint.load(checkpoint_path)
        if not isinstance(ckpt.config, TransformerConfig):
            raise click.ClickException("infer generates text; this checkpoint holds a classifier")
        if not ckpt.config.bitnet:
            raise click.ClickException("this is a full-precision model; infer runs BitNet models")
        model = load_model(ckpt)
        if ckpt.kind == "train":
            model = to_kernel_model(model)
        assert isinstance(model, Transformer)
        if threads is not None:
            torch.set_num_threads(threads)
        path = kernel.best_path()
        cfg = SampleConfig(max_new_tokens, temperature, top_k, seed)
        console.print(prompt, end="", style="bold", markup=False)
        # bytes arrive one at a time; the incremental decoder holds back partial characters
        utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")

        def show(tok: int) -> None:
            console.print(utf8.decode(bytes([tok])), end="", markup=False)

        out = generate(model, encode(prompt), cfg, on_token=show)
        console.print(utf8.decode(b"", final=True), markup=False)
    except (BitNetError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    table = Table(title="packed BitNet inference", show_header=False)
    table.add_row("tokens", str(len(out.tokens)))
    table.add_row("seconds", f"{out.seconds:.3f}")
    table.add_row("tokens/s", f"{out.tokens_per_second:.1f}")
    table.add_row("kernel", f"{path}, {torch.get_num_threads()} thread(s)")
    console.print(table)
