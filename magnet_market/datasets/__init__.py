"""Datasets as content: a sponsor's files packed into Parquet shards and a manifest.

``pack`` turns a folder of text files, a CSV or Parquet table (features and a label) or a CSV
time series into train, validation and holdout shards, streaming (memory bounded by a block, not
by the file); the application layer stores the shards, and the manifest naming them by CID
becomes the dataset's CID. Domain code: nothing here reads the chain or the store.
"""

from magnet_market.datasets.errors import DatasetError
from magnet_market.datasets.manifest import (
    FORMAT,
    KINDS,
    SPLITS,
    Column,
    DatasetManifest,
    Shard,
    Source,
    Split,
    parse_manifest,
)
from magnet_market.datasets.pack import PackedDataset, PackOptions, pack
from magnet_market.datasets.shards import PackedShard

__all__ = [
    "FORMAT",
    "KINDS",
    "SPLITS",
    "Column",
    "DatasetError",
    "DatasetManifest",
    "PackOptions",
    "PackedDataset",
    "PackedShard",
    "Shard",
    "Source",
    "Split",
    "pack",
    "parse_manifest",
]
