"""The root of every error MAGNET Market raises on purpose.

Each layer subclasses :class:`MagnetError` (and the builtin it refines), so callers can catch
"ours" without a bare ``except`` and the CLI can turn them into clean messages.
"""

from __future__ import annotations


class MagnetError(Exception):
    """Base class of all MAGNET Market errors."""


class ConfigError(MagnetError, ValueError):
    """A setting is missing or invalid (network, key, path)."""
