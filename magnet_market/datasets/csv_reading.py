"""Reading a user's CSV in blocks, with errors that name the line and the column.

pyarrow's streaming reader parses blocks in parallel, so it knows neither the line of a ragged
row nor the row of a value that does not convert; on those errors a plain scan of the file finds
them, so the message can say where to look.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv

from magnet_market.datasets.errors import DatasetError


def open_csv(path: Path, block_bytes: int, schema: pa.Schema | None) -> CsvStream:
    """``path`` read in blocks of ``block_bytes`` (``schema``: the columns' types, else
    inferred from the first block)."""
    invalid: list[pa_csv.InvalidRow] = []

    def refuse(row: pa_csv.InvalidRow) -> str:
        invalid.append(row)
        return "error"

    parse = pa_csv.ParseOptions(invalid_row_handler=refuse)
    read = pa_csv.ReadOptions(block_size=block_bytes)
    types = dict(zip(schema.names, schema.types, strict=True)) if schema is not None else {}
    convert = pa_csv.ConvertOptions(column_types=types)
    try:
        return CsvStream(
            pa_csv.open_csv(path, read_options=read, parse_options=parse, convert_options=convert),
            path,
            invalid,
        )
    except pa.ArrowInvalid as e:
        raise csv_error(path, e, invalid) from None


def csv_error(path: Path, e: Exception, invalid: list) -> DatasetError:
    """A parse or conversion error of pyarrow, located in the file (pyarrow's parallel reader
    knows neither the line of a ragged row nor the row of a bad value; a plain scan finds it)."""
    message = str(e).splitlines()[0]
    if invalid:
        row = invalid[0]
        line = row.number or _first_line(path, lambda fields: len(fields) != row.expected_columns)
        return DatasetError(
            f"{path}: line {line} has {row.actual_columns} fields, the header has "
            f"{row.expected_columns}: {row.text[:80]!r}"
        )
    if "Empty CSV file" in message:
        return DatasetError(f"{path}: the file is empty")
    bad = re.search(
        r"CSV column #(\d+): CSV conversion error to (\w+): invalid value '(.*)'", message
    )
    if bad:
        column, kind, value = int(bad[1]), bad[2], bad[3]
        line = _first_line(path, lambda f: len(f) > column and f[column] == value)
        header = _first_row(path)
        name = header[column] if column < len(header) else f"#{column}"
        return DatasetError(
            f"{path}: line {line} holds {value!r} in column {name!r}, which holds {kind} values"
        )
    return DatasetError(f"{path}: {message}")


def _first_row(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8", errors="replace") as f:
        return next(csv.reader(f), [])


def _first_line(path: Path, wrong: Callable[[list[str]], bool]) -> int | str:
    """The line number of the first data row ``wrong`` picks (``"?"`` if none does)."""
    with path.open(newline="", encoding="utf-8", errors="replace") as f:
        reader = csv.reader(f)
        next(reader, None)
        for fields in reader:
            if wrong(fields):
                return reader.line_num
    return "?"


class CsvStream:
    """A CSV stream whose errors name the file and the row."""

    def __init__(self, reader: pa_csv.CSVStreamingReader, path: Path, invalid: list) -> None:
        self.reader, self.path, self.invalid = reader, path, invalid
        self.schema = reader.schema

    def __enter__(self) -> CsvStream:
        return self

    def __exit__(self, *_: object) -> None:
        self.reader.close()

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        while True:
            try:
                batch = self.reader.read_next_batch()
            except StopIteration:
                return
            except pa.ArrowInvalid as e:
                raise csv_error(self.path, e, self.invalid) from None
            yield batch
