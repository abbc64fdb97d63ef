"""Errors raised by the storage layer.

One root, :class:`StorageError`; each subclass also extends the builtin it refines, so callers
can catch "ours" (``except StorageError``) or the generic kind (``except ValueError``).
"""

from __future__ import annotations

from magnet_market.errors import MagnetError


class StorageError(MagnetError):
    """Base class of every error raised by ``magnet_market.storage``."""


class InvalidCIDError(StorageError, ValueError):
    """A CID string or binary CID is malformed (bad multibase, varint, multihash or length)."""


class UnsupportedCodecError(StorageError, ValueError):
    """A CID or block uses a codec or hash function this package does not read."""


class CIDMismatchError(StorageError, ValueError):
    """Bytes do not hash to the CID they were fetched or announced under.

    Attributes:
        expected: the CID that was asked for.
        actual: the CID the bytes really have (``None`` if it could not be computed).
    """

    def __init__(self, expected: object, actual: object | None, detail: str = "") -> None:
        self.expected = expected
        self.actual = actual
        msg = f"content does not match its CID: expected {expected}, got {actual}"
        super().__init__(f"{msg} ({detail})" if detail else msg)


class TruncatedContentError(StorageError, EOFError):
    """Content ended before the size its DAG (or its CAR file) declares."""


class MalformedBlockError(StorageError, ValueError):
    """A block does not decode as the dag-pb / UnixFS structure its CID promises."""


class NotAFileError(StorageError, IsADirectoryError):
    """A byte stream was asked of a CID that names a directory (use ``get_to_path``)."""


class ContentNotFoundError(StorageError, LookupError):
    """The store does not hold the block or pin asked for."""


class CARFormatError(StorageError, ValueError):
    """A CAR stream is not a valid CARv1 file."""


class NodeError(StorageError, ConnectionError):
    """The IPFS node could not be reached or answered with an error.

    Attributes:
        status: the HTTP status code, or ``None`` for a transport failure.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)
