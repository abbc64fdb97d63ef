"""Packing a user's files into Parquet shards: streamed, checked, split.

Parquet (written by pyarrow) because every data tool reads it without this project — pandas,
polars, DuckDB, Spark, Hugging Face ``datasets`` — it keeps column types, and it compresses
(zstd). CSV is read block by block (``pyarrow.csv.open_csv``) and Parquet batch by batch, so
memory holds about one block whatever the file's size. Shards roll over every ``shard_bytes``.

What is checked, each with the file, row or column in the message: ragged CSV rows, non-numeric,
missing or non-finite (NaN, infinite) feature values, a missing or single-valued label, too many
classes, an unordered time column, an empty folder or table, a source over ``max_bytes``, and
splits left empty.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from magnet_market import __version__
from magnet_market.datasets.csv_reading import open_csv
from magnet_market.datasets.errors import DatasetError
from magnet_market.datasets.manifest import (
    KINDS,
    SPLITS,
    Column,
    DatasetManifest,
    Seal,
    Shard,
    Source,
    Split,
)
from magnet_market.datasets.shards import PackedShard, SplitShards
from magnet_market.datasets.split import piece_split, rows_split, time_split

DEFAULT_MAX_BYTES = 8 << 30
#: Characters per row of a text dataset: documents are cut into pieces, so even a single file
#: fills every split.
TEXT_PIECE_CHARS = 16_384
TEXT_SCHEMA = pa.schema([("document", pa.string()), ("part", pa.int32()), ("text", pa.string())])


@dataclass(frozen=True)
class PackOptions:
    """How a source is packed (``magnet dataset pack`` options)."""

    kind: str
    label: str | None = None  # tabular: the class column
    time: str | None = None  # series: the time column
    val_fraction: float = 0.1
    holdout_fraction: float = 0.1
    seed: int = 0
    max_bytes: int = DEFAULT_MAX_BYTES
    # CSV bytes parsed at once. pyarrow's streaming reader reads a fixed number of blocks ahead,
    # so this sets peak memory: with 1 MiB blocks a 1 GiB CSV packs in about 230 MB (benchmarks/
    # datasets.py); with 16 MiB blocks reading alone took over 700 MB.
    block_bytes: int = 1 << 20
    shard_bytes: int = 128 << 20  # Arrow bytes per Parquet shard
    max_classes: int = 1000
    # Sealed holdout slices, one per round of the task the dataset is for (``holdout.py``);
    # 0 leaves the holdout plain and public, judged by nobody.
    holdout_slices: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise DatasetError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.kind == "tabular" and not self.label:
            raise DatasetError("a tabular dataset needs --label COL (the class column)")
        if self.kind == "series" and not self.time:
            raise DatasetError("a series dataset needs --time COL (the column rows are ordered by)")
        if self.kind != "tabular" and self.label:
            raise DatasetError(f"--label is for tabular datasets, not {self.kind}")
        if self.kind != "series" and self.time:
            raise DatasetError(f"--time is for series datasets, not {self.kind}")
        fractions = (self.val_fraction, self.holdout_fraction)
        if not all(0 < f < 1 for f in fractions) or sum(fractions) >= 1:
            raise DatasetError(
                f"validation and holdout fractions must be in (0, 1) and leave rows to train on, "
                f"got {self.val_fraction} and {self.holdout_fraction}"
            )
        for name in ("max_bytes", "block_bytes", "shard_bytes", "max_classes"):
            if getattr(self, name) < 1:
                raise DatasetError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.holdout_slices <= 120:
            raise DatasetError(
                f"holdout slices must be 0 to 120 (one per round), got {self.holdout_slices}"
            )

    def split_note(self) -> str:
        how = "by time, most recent last" if self.kind == "series" else f"by hash, seed {self.seed}"
        return (
            f"splits {how}: validation {self.val_fraction:.0%}, holdout {self.holdout_fraction:.0%}"
        )


@dataclass(frozen=True)
class PackedDataset:
    """A packed source, before its shards are stored: everything of the manifest but the CIDs."""

    kind: str
    columns: tuple[Column, ...]
    shards: tuple[PackedShard, ...]
    source: Source
    label: str | None = None
    classes: tuple[str, ...] = ()
    time: str | None = None
    seal: Seal | None = None  # set by ``holdout.seal_holdout``: the holdout shards are slices

    def manifest(self, cids: Mapping[Path, str]) -> DatasetManifest:
        """The manifest once every shard has a CID (``cids`` maps each shard's path)."""
        splits = {}
        for name in SPLITS:
            mine = [s for s in self.shards if s.split == name]
            shards = tuple(
                Shard(cid=cids[s.path], rows=s.rows, bytes=s.path.stat().st_size) for s in mine
            )
            splits[name] = Split(rows=sum(s.rows for s in mine), shards=shards)
        return DatasetManifest(
            kind=self.kind,  # type: ignore[arg-type]  # checked by PackOptions
            columns=self.columns,
            label=self.label,
            classes=self.classes,
            time=self.time,
            splits=splits,
            source=self.source,
            seal=self.seal,
            packer=f"magnet-market {__version__}, pyarrow {pa.__version__}",
        )


def pack(source: str | Path, out: str | Path, options: PackOptions) -> PackedDataset:
    """Pack ``source`` (a folder of text files, or a ``.csv``/``.parquet`` table) into Parquet
    shards under ``out``; raises :class:`DatasetError` naming what is wrong."""
    source, out = Path(source), Path(out)
    size = _source_bytes(source, options)
    out.mkdir(parents=True, exist_ok=True)
    if options.kind == "text":
        return _pack_text(source, out, options, size)
    return _pack_table(source, out, options, size)


def _source_bytes(source: Path, options: PackOptions) -> int:
    if not source.exists():
        raise DatasetError(f"{source}: no such file or folder")
    if options.kind == "text":
        if not source.is_dir():
            raise DatasetError(f"{source}: a text dataset is packed from a folder of text files")
        size = sum(p.stat().st_size for p in _text_files(source))
    else:
        if not source.is_file() or source.suffix.lower() not in (".csv", ".parquet"):
            raise DatasetError(
                f"{source}: a {options.kind} dataset is packed from a .csv or .parquet file"
            )
        size = source.stat().st_size
    if size > options.max_bytes:
        raise DatasetError(
            f"{source} is {size:,} bytes, over the limit of {options.max_bytes:,} (--max-bytes)"
        )
    return size


# --------------------------------------------------------------------------- text


def _text_files(folder: Path) -> list[Path]:
    """Regular files under ``folder``, hidden ones and hidden folders left out, in name order."""
    files = [
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]
    if not files:
        raise DatasetError(f"{folder}: the folder holds no files to pack")
    return sorted(files, key=lambda p: p.relative_to(folder).as_posix())


def _pack_text(folder: Path, out: Path, options: PackOptions, size: int) -> PackedDataset:
    shards = SplitShards(out, TEXT_SCHEMA, options.shard_bytes)
    rows: list[tuple[str, int, str]] = []
    pending = total = 0

    def flush() -> None:
        nonlocal rows, pending
        if rows:
            names, parts, texts = zip(*rows, strict=True)
            batch = pa.RecordBatch.from_arrays(
                [pa.array(names), pa.array(parts, pa.int32()), pa.array(texts)], schema=TEXT_SCHEMA
            )
            which = np.array(
                [
                    piece_split(n, p, options.seed, options.val_fraction, options.holdout_fraction)
                    for n, p in zip(names, parts, strict=True)
                ],
                dtype=np.uint8,
            )
            shards.write(batch, which)
        rows, pending = [], 0

    for path in _text_files(folder):
        name = path.relative_to(folder).as_posix()
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as e:
            raise DatasetError(f"{path}: not UTF-8 text (byte {e.start}): {e.reason}") from None
        for part, start in enumerate(range(0, max(len(text), 1), TEXT_PIECE_CHARS)):
            piece = text[start : start + TEXT_PIECE_CHARS]
            rows.append((name, part, piece))
            pending += len(piece)
            total += 1
        if pending >= options.block_bytes:
            flush()
    flush()
    packed = shards.close(folder)
    columns = tuple(Column(name=f.name, type=str(f.type)) for f in TEXT_SCHEMA)
    files = len(_text_files(folder))
    notes = f"{files} text files in {TEXT_PIECE_CHARS}-character pieces; {options.split_note()}"
    return PackedDataset(
        "text", columns, packed, Source(name=folder.name, bytes=size, rows=total, notes=notes)
    )


# --------------------------------------------------------------------------- tables


def _pack_table(path: Path, out: Path, options: PackOptions, size: int) -> PackedDataset:
    schema = _checked_schema(path, options)
    shards = SplitShards(out, schema, options.shard_bytes)
    total = _count_rows(path, options, schema) if options.kind == "series" else 0
    classes: set[str] = set()
    seen = 0
    last_time: pa.Scalar | None = None
    for batch in _batches(path, options, schema):
        n = batch.num_rows
        _check_complete(path, batch, seen)
        if options.kind == "tabular":
            _collect_classes(path, batch.column(options.label), classes, options.max_classes)
            which = rows_split(
                seen, n, options.seed, options.val_fraction, options.holdout_fraction
            )
        else:
            time_column = str(options.time)  # set for every series (PackOptions)
            last_time = _check_ordered(
                path, batch.column(time_column), seen, last_time, time_column
            )
            which = time_split(seen, n, total, options.val_fraction, options.holdout_fraction)
        shards.write(batch, which)
        seen += n
    if seen == 0:
        raise DatasetError(f"{path}: the table has a header but no rows")
    if options.kind == "tabular" and len(classes) < 2:
        only = next(iter(classes))
        raise DatasetError(
            f"{path}: label column {options.label!r} has the single value {only!r}: "
            "a classifier needs at least two classes"
        )
    packed = shards.close(path)
    columns = tuple(Column(name=f.name, type=str(f.type)) for f in schema)
    fmt = "CSV" if path.suffix.lower() == ".csv" else "Parquet"
    notes = f"{fmt} table of {len(columns)} columns; {options.split_note()}"
    return PackedDataset(
        options.kind,
        columns,
        packed,
        Source(name=path.name, bytes=size, rows=seen, notes=notes),
        label=options.label,
        classes=tuple(sorted(classes)),
        time=options.time,
    )


def _is_numeric(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)


def _checked_schema(path: Path, options: PackOptions) -> pa.Schema:
    """The shards' schema: features as float64 (booleans stay), the label as text, the time
    column as read; a missing label/time column or a non-numeric feature is refused."""
    read = _read_schema(path, options)
    names = read.names
    if all(pa.types.is_null(t) for t in read.types):
        raise DatasetError(f"{path}: the table has a header but no rows")
    if len(set(names)) != len(names):
        raise DatasetError(f"{path}: duplicate column names in {names}")
    key = options.label or options.time
    if key not in names:
        what = "label" if options.label else "time"
        raise DatasetError(f"{path}: no {what} column {key!r}; the columns are {', '.join(names)}")
    fields = []
    for f in read:
        if f.name == options.label:
            fields.append(pa.field(f.name, pa.string()))
        elif f.name == options.time:
            fields.append(f)
        elif not _is_numeric(f.type):
            where = _first_text(path, f.name, options)
            raise DatasetError(f"{path}: feature column {f.name!r} is not numeric ({where})")
        else:
            fields.append(
                pa.field(f.name, pa.bool_() if pa.types.is_boolean(f.type) else pa.float64())
            )
    if len(fields) < 2:
        raise DatasetError(f"{path}: no feature columns besides {key!r}")
    return pa.schema(fields)


def _read_schema(path: Path, options: PackOptions) -> pa.Schema:
    if path.suffix.lower() == ".parquet":
        try:
            return pq.ParquetFile(path).schema_arrow
        except (pa.ArrowInvalid, OSError) as e:
            raise DatasetError(f"{path}: not a readable Parquet file: {e}") from None
    with open_csv(path, options.block_bytes, None) as reader:
        return reader.schema


def _first_text(path: Path, column: str, options: PackOptions) -> str:
    """Where a feature column read as text first holds something that is not a number."""
    seen = 0
    for batch in _raw_batches(path, options, None):
        for j, value in enumerate(batch.column(column).to_pylist()):
            if value is not None and not _parses_as_number(value):
                return f"row {seen + j + 1} holds {value!r}"
        seen += batch.num_rows
    return "it holds no values"


def _parses_as_number(v: object) -> bool:
    try:
        float(str(v))
    except ValueError:
        return False
    return True


def _raw_batches(
    path: Path, options: PackOptions, schema: pa.Schema | None
) -> Iterator[pa.RecordBatch]:
    if path.suffix.lower() == ".parquet":
        yield from pq.ParquetFile(path).iter_batches(batch_size=65_536)
        return
    with open_csv(path, options.block_bytes, schema) as reader:
        yield from reader


def _batches(path: Path, options: PackOptions, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """The source's batches in the shards' schema."""
    for batch in _raw_batches(path, options, schema):
        if batch.schema != schema:
            batch = pa.RecordBatch.from_arrays(
                [batch.column(f.name).cast(f.type) for f in schema], schema=schema
            )
        yield batch


def _count_rows(path: Path, options: PackOptions, schema: pa.Schema) -> int:
    if path.suffix.lower() == ".parquet":
        return pq.ParquetFile(path).metadata.num_rows
    return sum(b.num_rows for b in _raw_batches(path, options, schema))


def _check_complete(path: Path, batch: pa.RecordBatch, seen: int) -> None:
    """Every value present, and every floating value finite (a ``nan`` or ``inf`` in a CSV
    parses as a number, and one would turn every loss it reaches into NaN)."""
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        if column.null_count:
            first = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
            raise DatasetError(f"{path}: row {seen + first + 1} has no value in column {name!r}")
        if pa.types.is_floating(column.type):
            bad = np.flatnonzero(~pc.is_finite(column).to_numpy(zero_copy_only=False))
            if len(bad):
                value = column[int(bad[0])].as_py()
                raise DatasetError(
                    f"{path}: row {seen + int(bad[0]) + 1} holds {value} in column {name!r}: "
                    "features must be finite numbers"
                )


def _collect_classes(path: Path, label: pa.Array, classes: set[str], limit: int) -> None:
    classes.update(pc.unique(label).to_pylist())
    if len(classes) > limit:
        raise DatasetError(
            f"{path}: the label has more than {limit} distinct values: is it a class column? "
            "(a regression target cannot be packed as tabular)"
        )


def _check_ordered(
    path: Path, times: pa.Array, seen: int, last: pa.Scalar | None, name: str
) -> pa.Scalar | None:
    if len(times) == 0:
        return last
    joined = (
        times if last is None else pa.concat_arrays([pa.array([last.as_py()], times.type), times])
    )
    offset = seen if last is None else seen - 1
    rising = pc.greater(joined[1:], joined[:-1]).to_numpy(zero_copy_only=False)
    if not rising.all():
        bad = int(np.flatnonzero(~rising)[0]) + 1
        raise DatasetError(
            f"{path}: time column {name!r} is not increasing at row {offset + bad + 1} "
            f"({joined[bad - 1].as_py()!r} then {joined[bad].as_py()!r}); sort the series by time"
        )
    return times[-1]
