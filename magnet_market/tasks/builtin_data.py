"""The built-in tasks' data as a sponsor's files, to pack into datasets named by CID.

Each comes from a file shipped with the package or a pinned dependency, never from the running
interpreter: the frozen tinylm corpus (``corpus/``, one text file per source file), scikit-learn's
bundled handwritten digits (a CSV of 64 pixels and the digit) and statsmodels' bundled Mauna Loa
weekly CO2 record (a CSV series, missing weeks left out). Packed unsealed with the default
options they give the CIDs in :data:`PINNED_CIDS` on every machine and Python
(``tests/tasks/test_builtin_data.py``); ``magnet dataset builtin NAME`` pins one in a store.
"""

from __future__ import annotations

import json
import lzma
from collections.abc import Callable
from pathlib import Path

from magnet_market.datasets import PackOptions
from magnet_market.tasks.tinylm import CORPUS_DIR, CORPUS_MANIFEST, SEPARATOR


def _corpus_folder(folder: Path) -> Path:
    """The frozen tinylm corpus as the files it was made of (the last one of each stream cut,
    as frozen): a folder to pack as text."""
    manifest = json.loads((CORPUS_DIR / CORPUS_MANIFEST).read_text())
    out = folder / "tinylm-corpus"
    for split in ("train", "val"):
        stream = lzma.decompress((CORPUS_DIR / f"tinylm-{split}.bin.xz").read_bytes())
        texts = stream.split(bytes([SEPARATOR]))
        for name, text in zip(manifest["files"][split], texts, strict=False):
            path = out / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(text)
    return out


def _digits_csv(folder: Path) -> Path:
    """scikit-learn's bundled digits: ``pixel_0_0`` … ``pixel_7_7`` and ``digit``."""
    from sklearn.datasets import load_digits

    frame = load_digits(as_frame=True).frame.rename(columns={"target": "digit"})
    path = folder / "digits.csv"
    frame.to_csv(path, index=False)
    return path


def _co2_csv(folder: Path) -> Path:
    """statsmodels' bundled weekly CO2 record, ``date`` then ``co2``, missing weeks left out."""
    from statsmodels.datasets import co2

    path = folder / "co2.csv"
    co2.load_pandas().data.dropna().rename_axis("date").reset_index().to_csv(path, index=False)
    return path


#: name → (what writes its source into a folder, how it packs).
BUILTINS: dict[str, tuple[Callable[[Path], Path], PackOptions]] = {
    "tinylm": (_corpus_folder, PackOptions("text")),
    "digits": (_digits_csv, PackOptions("tabular", label="digit")),
    "co2": (_co2_csv, PackOptions("series", time="date")),
}

#: The dataset CIDs the built-in data packs to, unsealed (checked by a test: a change of data,
#: packer or pinned pyarrow shows up as a new CID here, never silently).
PINNED_CIDS = {
    "tinylm": "bafkreif3yqdvqpvopv3s7jaujziir3mu2aynshwjopf2corvg3jhajuf54",
    "digits": "bafkreidxgtg5f5mzwpldk6fzkfdzjvx7gv5vmo5he27dwtu72c52gy7zk4",
    "co2": "bafkreia6hvjjpi2fr3wg456f4imeqyaonzdcm3zuqw5dpmv5jcj6o6i4wm",
}


def builtin_source(name: str, folder: Path) -> tuple[Path, PackOptions]:
    """The source of built-in dataset ``name`` written under ``folder``, and its pack options."""
    if name not in BUILTINS:
        raise ValueError(f"no built-in dataset {name!r}; there are {', '.join(BUILTINS)}")
    write, options = BUILTINS[name]
    folder.mkdir(parents=True, exist_ok=True)
    return write(folder), options
