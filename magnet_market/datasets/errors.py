"""Errors of the dataset layer."""

from __future__ import annotations

from magnet_market.errors import MagnetError


class DatasetError(MagnetError, ValueError):
    """A dataset cannot be packed, or does not match its manifest; the message names the file,
    row or field at fault."""
