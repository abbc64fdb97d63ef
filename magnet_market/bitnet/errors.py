"""Errors of the BitNet engine, rooted at :class:`magnet_market.errors.MagnetError`."""

from __future__ import annotations

from magnet_market.errors import MagnetError


class BitNetError(MagnetError):
    """Base class of BitNet engine errors."""


class CheckpointError(BitNetError, ValueError):
    """A checkpoint file is malformed, untrusted-looking or does not fit the model."""


class KernelUnavailableError(BitNetError, RuntimeError):
    """The native kernel is not built (install the package with a C compiler)."""
