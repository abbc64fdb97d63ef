"""Packing a user's files: splits, streaming, and a specific error for each kind of bad input."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from magnet_market.datasets import DatasetError, PackOptions, pack
from magnet_market.datasets.pack import TEXT_PIECE_CHARS


def write_csv(path, header, rows):
    path.write_text("\n".join([",".join(header), *(",".join(map(str, r)) for r in rows)]) + "\n")
    return path


def table_csv(tmp_path, n=400, name="data.csv"):
    rows = [(i % 7, (i * 13) % 11 / 10, "cat" if i % 3 else "dog") for i in range(n)]
    return write_csv(tmp_path / name, ["a", "b", "y"], rows)


def read_split(packed, split):
    parts = [pq.read_table(s.path) for s in packed.shards if s.split == split]
    return pa.concat_tables(parts) if parts else None


def test_a_table_is_split_by_row_and_typed_for_training(tmp_path):
    packed = pack(table_csv(tmp_path), tmp_path / "out", PackOptions("tabular", label="y"))
    assert [(c.name, c.type) for c in packed.columns] == [
        ("a", "double"),
        ("b", "double"),
        ("y", "string"),
    ]
    assert packed.classes == ("cat", "dog")
    sizes = {s: read_split(packed, s).num_rows for s in ("train", "val", "holdout")}
    assert sum(sizes.values()) == packed.source.rows == 400
    assert 20 <= sizes["val"] <= 60 and 20 <= sizes["holdout"] <= 60  # 10 % each, by hash
    every = pa.concat_tables([read_split(packed, s) for s in sizes]).sort_by("a")
    assert every.num_rows == 400 and every.column("y").null_count == 0


def test_streaming_in_small_blocks_and_shards_changes_nothing_but_the_files(tmp_path):
    source = table_csv(tmp_path, n=3000)
    whole = pack(source, tmp_path / "whole", PackOptions("tabular", label="y"))
    small = PackOptions("tabular", label="y", block_bytes=4096, shard_bytes=8192)
    pieces = pack(source, tmp_path / "pieces", small)
    assert len(pieces.shards) > len(whole.shards) == 3
    for split in ("train", "val", "holdout"):
        assert read_split(pieces, split).equals(read_split(whole, split))


def test_a_parquet_table_packs_like_its_csv(tmp_path):
    source = table_csv(tmp_path)
    from_csv = pack(source, tmp_path / "csv", PackOptions("tabular", label="y"))
    parquet = tmp_path / "data.parquet"
    pq.write_table(read_split(from_csv, "train"), parquet)
    from_parquet = pack(parquet, tmp_path / "pq", PackOptions("tabular", label="y"))
    assert from_parquet.columns == from_csv.columns
    assert from_parquet.source.rows == read_split(from_csv, "train").num_rows


def test_a_series_keeps_its_most_recent_rows_for_the_holdout(tmp_path):
    rows = [(f"2020-01-{1 + i // 24:02d}T{i % 24:02d}:00:00", i * 0.5, i % 5) for i in range(500)]
    source = write_csv(tmp_path / "series.csv", ["when", "price", "volume"], rows)
    packed = pack(source, tmp_path / "out", PackOptions("series", time="when"))
    times = {
        s: read_split(packed, s).column("when").to_pylist() for s in ("train", "val", "holdout")
    }
    assert max(times["train"]) < min(times["val"]) and max(times["val"]) < min(times["holdout"])
    assert (len(times["train"]), len(times["val"]), len(times["holdout"])) == (400, 50, 50)


def test_text_documents_are_cut_into_pieces_that_fill_every_split(tmp_path):
    folder = tmp_path / "corpus"
    (folder / "sub").mkdir(parents=True)
    book = "".join(chr(ord("a") + i % 26) for i in range(TEXT_PIECE_CHARS * 30 + 5))
    (folder / "book.txt").write_text(book)
    (folder / "sub" / "note.md").write_text("a short note ✓")
    (folder / ".hidden").write_text("never packed")
    packed = pack(folder, tmp_path / "out", PackOptions("text"))
    table = pa.concat_tables([read_split(packed, s) for s in ("train", "val", "holdout")])
    columns = [table.column(c).to_pylist() for c in ("document", "part", "text")]
    rows = sorted(zip(*columns, strict=True))
    assert {r[0] for r in rows} == {"book.txt", "sub/note.md"}
    assert "".join(r[2] for r in rows if r[0] == "book.txt") == book
    assert packed.source.rows == 32


@pytest.mark.parametrize(
    ("content", "options", "message"),
    [
        ("a,b,y\n1,2,x\n3,4\n", {}, "line 3 has 2 fields, the header has 3"),
        ("a,b,y\n1,abc,x\n3,4,z\n", {}, "feature column 'b' is not numeric (row 1 holds 'abc')"),
        ("a,b,y\n1,2,x\n,4,z\n", {}, "row 2 has no value in column 'a'"),
        ("a,b,y\n1,2,x\n3,nan,z\n", {}, "row 2 has no value in column 'b'"),  # CSV: NaN is null
        ("a,b,y\n1,2,x\n-inf,4,z\n", {}, "row 2 holds -inf in column 'a'"),
        ("a,b,y\n1,2,x\n3,4,x\n", {}, "label column 'y' has the single value 'x'"),
        ("a,b,c\n1,2,x\n", {}, "no label column 'y'; the columns are a, b, c"),
        ("a,b,y\n", {}, "the table has a header but no rows"),
        ("", {}, "the file is empty"),
        ("a,b,y\n1,2,x\n3,4,z\n", {}, "no rows went to val"),
        ("a,a,y\n1,2,x\n", {}, "duplicate column names"),
        ("a,y\n1,x\n", {"max_bytes": 4}, "over the limit of 4 (--max-bytes)"),
        ("y\nx\nz\n", {}, "no feature columns besides 'y'"),
    ],
)
def test_bad_tables_are_refused_with_the_row_or_column(tmp_path, content, options, message):
    source = tmp_path / "bad.csv"
    source.write_text(content)
    with pytest.raises(DatasetError, match=r"bad\.csv") as caught:
        pack(source, tmp_path / "out", PackOptions("tabular", label="y", **options))
    assert message in str(caught.value)


def test_a_nan_in_a_parquet_table_is_refused_at_its_row(tmp_path):
    source = tmp_path / "nan.parquet"
    table = pa.table({"a": [1.0, 2.0, float("nan")], "y": ["x", "z", "x"]})
    pq.write_table(table, source)
    with pytest.raises(DatasetError, match=r"nan.parquet: row 3 holds nan in column 'a'"):
        pack(source, tmp_path / "out", PackOptions("tabular", label="y"))


def test_a_late_non_numeric_value_names_its_row(tmp_path):
    rows = [(i, i % 2, "x" if i % 2 else "z") for i in range(2000)] + [("oops", 1, "x")]
    source = write_csv(tmp_path / "late.csv", ["a", "b", "y"], rows)
    with pytest.raises(DatasetError, match=r"late.csv: line 2002 holds 'oops' in column 'a'"):
        pack(source, tmp_path / "out", PackOptions("tabular", label="y", block_bytes=4096))


def test_too_many_classes_means_a_regression_target(tmp_path):
    source = write_csv(tmp_path / "reg.csv", ["a", "y"], [(i, i * 1.5) for i in range(50)])
    with pytest.raises(DatasetError, match="more than 10 distinct values"):
        pack(source, tmp_path / "out", PackOptions("tabular", label="y", max_classes=10))


def test_an_unordered_series_is_refused_at_its_row(tmp_path):
    source = write_csv(tmp_path / "s.csv", ["t", "v"], [(1, 1.0), (2, 2.0), (2, 3.0), (4, 1.0)])
    with pytest.raises(
        DatasetError, match=r"time column 't' is not increasing at row 3 \(2 then 2\)"
    ):
        pack(source, tmp_path / "out", PackOptions("series", time="t"))


def test_bad_folders_and_options(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="the folder holds no files"):
        pack(tmp_path / "empty", tmp_path / "out", PackOptions("text"))
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "blob.txt").write_bytes(b"ok\xff\xfe")
    with pytest.raises(DatasetError, match=r"blob.txt: not UTF-8 text \(byte 2\)"):
        pack(tmp_path / "bin", tmp_path / "out", PackOptions("text"))
    with pytest.raises(DatasetError, match="needs --label COL"):
        PackOptions("tabular")
    with pytest.raises(DatasetError, match="--time is for series datasets"):
        PackOptions("text", time="t")
    with pytest.raises(DatasetError, match="leave rows to train on"):
        PackOptions("text", val_fraction=0.5, holdout_fraction=0.5)
    with pytest.raises(DatasetError, match=r"packed from a \.csv or \.parquet file"):
        pack(tmp_path / "empty", tmp_path / "out", PackOptions("series", time="t"))
