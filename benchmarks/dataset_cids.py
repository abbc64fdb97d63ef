"""The CIDs of the same data packed by this interpreter: run it under two Pythons and compare.

    python benchmarks/dataset_cids.py --json                        # this interpreter
    OTHER/bin/python benchmarks/dataset_cids.py --json              # another one, same files

Packs `examples/wine.csv` (tabular), a folder of text written by the script and a generated
series, each with an unsealed holdout (a sealed one is encrypted under fresh keys, so a new CID
by design), and prints every dataset CID with the interpreter's version. Nothing is pinned: the
CIDs are computed with the project's own importer (`storage.dag`), the one that stores them.
The datasets need only pyarrow, numpy, pydantic, eth-utils and pycryptodome, so a second
interpreter needs no torch: `python -m venv` of another Python with those (pyarrow pinned at the
project's 25.0.1, whose version is in the files' bytes) and `PYTHONPATH` at the repository.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pyarrow as pa

from magnet_market.datasets import PackOptions, pack
from magnet_market.storage.dag import cid_of_bytes, cid_of_path

ROOT = Path(__file__).resolve().parents[1]
TEXT = (
    "The miners went down at dawn; the lamps were lit one by one. "
    "Nobody spoke of the flood, though everyone listened for the water. "
)


def dataset_cid(source: Path, options: PackOptions, out: Path) -> str:
    """The CID ``publish_dataset`` would give ``source``: its shards', then its manifest's."""
    packed = pack(source, out, options)
    cids = {s.path: str(cid_of_path(s.path)) for s in packed.shards}
    return str(cid_of_bytes(packed.manifest(cids).canonical_json()))


def sources(folder: Path) -> dict[str, tuple[Path, PackOptions]]:
    """The three kinds, from files the repository ships or this script writes."""
    corpus = folder / "corpus"
    corpus.mkdir()
    for i in range(60):
        (corpus / f"chapter{i:02d}.txt").write_text(f"Chapter {i}. " + TEXT * (250 + i))
    series = folder / "series.csv"
    rows = ["t,price,volume"] + [
        f"{t},{100 + (t * 37) % 23 - t % 5},{(t * 11) % 7}" for t in range(600)
    ]
    series.write_text("\n".join(rows) + "\n")
    return {
        "tabular": (ROOT / "examples" / "wine.csv", PackOptions("tabular", label="target")),
        "text": (corpus, PackOptions("text")),
        "series": (series, PackOptions("series", time="t")),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cids = {
            kind: dataset_cid(source, options, folder / f"packed-{kind}")
            for kind, (source, options) in sources(folder).items()
        }
    result = {"python": platform.python_version(), "pyarrow": pa.__version__, **cids}
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:8} {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
