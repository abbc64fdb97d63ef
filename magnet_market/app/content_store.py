"""The content store as ``magnet ipfs`` uses it: CIDs computed locally, verified reads, GC.

The store itself is the session's (:attr:`Session.store`); this module gives the interface the
storage types it parses and reports, so it never imports the storage adapter.
"""

from __future__ import annotations

from magnet_market.app.errors import BadRequestError
from magnet_market.storage import (
    CID,
    ContentStore,
    LocalStore,
    NotAFileError,
    StorageError,
    cid_of_path,
)

__all__ = [
    "CID",
    "ContentStore",
    "NotAFileError",
    "StorageError",
    "cid_of_path",
    "collect_garbage",
]


def collect_garbage(store: ContentStore) -> int:
    """Delete the embedded store's unpinned blocks; returns how many (a node collects its own)."""
    if not isinstance(store, LocalStore):
        raise BadRequestError("gc applies to the embedded store only; drop --api")
    return store.gc()
