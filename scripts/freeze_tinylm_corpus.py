"""Freeze the tinylm corpus: the running Python's standard library sources, as byte streams.

    python scripts/freeze_tinylm_corpus.py [--root STDLIB] [--out magnet_market/tasks/corpus]

Writes ``tinylm-train.bin.xz``, ``tinylm-val.bin.xz`` and ``tinylm.json`` (the Python version,
the split, each stream's SHA-256 and its files). The shipped copy came from CPython 3.11.7;
freezing again on another Python changes the task's data, so it is a new corpus, not a refresh.
"""

from __future__ import annotations

import argparse
import sysconfig
from pathlib import Path

from magnet_market.tasks.tinylm import CORPUS_DIR, freeze_corpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=Path(sysconfig.get_path("stdlib")))
    parser.add_argument("--out", type=Path, default=CORPUS_DIR)
    args = parser.parse_args()
    manifest = freeze_corpus(args.root, args.out)
    sizes = ", ".join(f"{split} {n:,} bytes" for split, n in manifest["bytes"].items())
    print(f"froze {manifest['source']}: {sizes} -> {args.out}")


if __name__ == "__main__":
    main()
