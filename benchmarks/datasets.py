"""Packing speed and peak memory of ``magnet dataset pack`` on a large generated CSV.

    python benchmarks/datasets.py              # 1 GiB CSV (about 3 minutes on 2 cores)
    python benchmarks/datasets.py --mb 64 --json

A CSV of 16 numeric features and a 10-class label is written to a temporary folder, then packed
twice, each in its own child process so peak memory (``VmHWM``) is that job's alone: by
``magnet_market.datasets.pack`` (checks, classes, splits, three shard streams) and, as the
baseline, by pyarrow's own streaming CSV-to-Parquet conversion of the same file with the same
block size (no checks, one file). Goal: peak memory under 500 MB for 1 GiB.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _report import emit  # sibling module: these scripts run as `python benchmarks/NAME.py`

from magnet_market.datasets import PackOptions, pack

FEATURES = 16
CHUNK_ROWS = 200_000


def write_csv(path: Path, megabytes: int) -> int:
    """A CSV of about ``megabytes`` MiB: features with 6 decimals, a label 0-9; returns rows."""
    rng = np.random.default_rng(0)
    names = [f"f{i}" for i in range(FEATURES)] + ["label"]
    rows = 0
    with pa_csv.CSVWriter(
        path, pa.schema([(n, pa.float64()) for n in names[:-1]] + [("label", pa.int64())])
    ) as out:
        while path.stat().st_size < megabytes << 20:
            x = np.round(rng.standard_normal((CHUNK_ROWS, FEATURES)), 6)
            label = (x[:, 0] > 0).astype(np.int64) * 5 + rng.integers(0, 5, CHUNK_ROWS)
            columns = [pa.array(x[:, i]) for i in range(FEATURES)] + [pa.array(label)]
            out.write(pa.RecordBatch.from_arrays(columns, names=names))
            rows += CHUNK_ROWS
    return rows


def run_job(job: str, source: Path, out: Path) -> dict:
    """Child process: run one packing job, report its seconds and peak RSS."""
    start = time.perf_counter()
    if job == "pack":
        pack(source, out, PackOptions("tabular", label="label"))
    else:
        read = pa_csv.ReadOptions(block_size=PackOptions("text").block_bytes)
        reader = pa_csv.open_csv(source, read_options=read)
        with reader, pq.ParquetWriter(out / "all.parquet", reader.schema, compression="zstd") as w:
            for batch in reader:
                w.write_batch(batch)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_rss_mb": peak_rss_mb()}


def peak_rss_mb() -> float:
    """This process's peak resident memory (``VmHWM``: unlike ``ru_maxrss``, it starts afresh
    at exec, so a child does not report the parent's peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def child(job: str, source: Path, out: Path) -> dict:
    out.mkdir()
    done = subprocess.run(
        [sys.executable, __file__, "--child", job, str(source), str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=int, default=1024, help="CSV size in MiB")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        job, source, out = args.child
        print(json.dumps(run_job(job, Path(source), Path(out))))
        return
    with tempfile.TemporaryDirectory(prefix="magnet-bench-") as tmp:
        source = Path(tmp) / "big.csv"
        rows = write_csv(source, args.mb)
        size_mb = source.stat().st_size / (1 << 20)
        ours = child("pack", source, Path(tmp) / "pack")
        base = child("baseline", source, Path(tmp) / "baseline")
        packed_mb = sum(p.stat().st_size for p in (Path(tmp) / "pack").glob("*.parquet")) / (
            1 << 20
        )
    emit(
        {
            "csv_mb": size_mb,
            "rows": rows,
            "pack_mb_per_s": size_mb / ours["seconds"],
            "baseline_mb_per_s": size_mb / base["seconds"],
            "pack_time_vs_baseline": ours["seconds"] / base["seconds"],
            "pack_peak_rss_mb": ours["peak_rss_mb"],
            "baseline_peak_rss_mb": base["peak_rss_mb"],
            "parquet_mb": packed_mb,
        },
        args.json,
    )


if __name__ == "__main__":
    main()
