"""The dataset manifest: what a dataset CID names (kind, columns, splits, shard CIDs, source).

Pinned as canonical JSON (sorted keys, no spaces), so the same manifest is the same bytes and
the same CID. Shards are Parquet files any Parquet reader opens; the manifest lists each one's
CID, rows and bytes, and every party checks what it fetched against them.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from magnet_market.datasets.errors import DatasetError

FORMAT: Literal["magnet-dataset/1"] = "magnet-dataset/1"
KINDS = ("text", "tabular", "series")
#: ``val`` is the split contributors search on; ``holdout`` is what rounds are judged on.
SPLITS = ("train", "val", "holdout")

Kind = Literal["text", "tabular", "series"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Column(_Frozen):
    """One column of every shard: its name and Arrow type (e.g. ``double``, ``string``)."""

    name: str = Field(min_length=1)
    type: str = Field(min_length=1)


class Shard(_Frozen):
    """One Parquet file of a split."""

    cid: str = Field(min_length=1)
    rows: int = Field(ge=1)
    bytes: int = Field(ge=1)


class Split(_Frozen):
    """The shards of one split, in order."""

    rows: int = Field(ge=0)
    shards: tuple[Shard, ...] = ()

    @model_validator(mode="after")
    def _rows_add_up(self) -> Split:
        if sum(s.rows for s in self.shards) != self.rows:
            raise ValueError(
                f"shard rows add up to {sum(s.rows for s in self.shards)}, not {self.rows}"
            )
        return self


class Seal(_Frozen):
    """How the holdout is sealed: its shards are slices, one per round in order, each encrypted
    under that round's key of a hash chain whose head the task puts on chain (``seal.py``)."""

    cipher: Literal["AES-256-GCM"] = "AES-256-GCM"
    chain: Literal["keccak256"] = "keccak256"
    head: str = Field(pattern=r"^0x[0-9a-f]{64}$")

    @property
    def head_bytes(self) -> bytes:
        return bytes.fromhex(self.head[2:])


class Source(_Frozen):
    """Where the data came from, for people reading the manifest."""

    name: str  # the packed file or folder's name (no path: it may name the sponsor's machine)
    bytes: int = Field(ge=0)
    rows: int = Field(ge=1)
    notes: str = ""


class DatasetManifest(_Frozen):
    """What a dataset CID names."""

    format: Literal["magnet-dataset/1"] = FORMAT
    kind: Kind
    columns: tuple[Column, ...] = Field(min_length=1)
    label: str | None = None  # tabular: the class column
    classes: tuple[str, ...] = ()  # tabular: the label's values, sorted, as text
    time: str | None = None  # series: the column rows are ordered by
    splits: dict[str, Split]
    source: Source
    seal: Seal | None = None  # None: the holdout shards are plain Parquet like the others
    packer: str  # the tools that wrote the shards, e.g. "magnet-market 0.3.0, pyarrow 25.0.1"

    @model_validator(mode="after")
    def _consistent(self) -> DatasetManifest:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate column names in {names}")
        if set(self.splits) != set(SPLITS):
            raise ValueError(f"splits must be exactly {list(SPLITS)}, got {sorted(self.splits)}")
        if self.kind == "tabular":
            if self.label not in names:
                raise ValueError(f"tabular label {self.label!r} is not a column of {names}")
            if len(self.classes) < 2:
                raise ValueError("a tabular dataset needs at least two classes")
        if self.kind == "series" and self.time not in names:
            raise ValueError(f"series time column {self.time!r} is not a column of {names}")
        if self.seal is not None and not self.splits["holdout"].shards:
            raise ValueError("a sealed holdout needs at least one slice")
        if sum(s.rows for s in self.splits.values()) != self.source.rows:
            raise ValueError("the splits' rows do not add up to the source's rows")
        return self

    @property
    def rows(self) -> int:
        return self.source.rows

    @property
    def features(self) -> tuple[str, ...]:
        """The model's input columns (tabular and series: every column but the label/time)."""
        skip = {self.label, self.time}
        return tuple(c.name for c in self.columns if c.name not in skip)

    @property
    def slices(self) -> int:
        """Rounds a sealed holdout can judge (one slice each); 0 when not sealed."""
        return len(self.splits["holdout"].shards) if self.seal else 0

    def canonical_json(self) -> bytes:
        """The bytes that are pinned: sorted keys, no spaces, UTF-8."""
        data = self.model_dump(mode="json")
        if data["seal"] is None:  # an unsealed manifest keeps the bytes (and CID) it always had
            del data["seal"]
        return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def parse_manifest(data: bytes) -> DatasetManifest:
    """A manifest from its pinned bytes, or a :class:`DatasetError` saying what is wrong."""
    try:
        raw = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DatasetError(f"dataset manifest is not JSON: {e}") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        got = raw.get("format") if isinstance(raw, dict) else type(raw).__name__
        raise DatasetError(f"not a {FORMAT} manifest (format {got!r})")
    try:
        return DatasetManifest.model_validate(raw)
    except ValidationError as e:
        where = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'manifest'}: {err['msg']}"
            for err in e.errors()
        )
        raise DatasetError(f"invalid dataset manifest: {where}") from None
