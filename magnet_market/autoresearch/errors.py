"""Errors of the autoresearch loop, rooted at :class:`magnet_market.errors.MagnetError`."""

from __future__ import annotations

from magnet_market.errors import MagnetError


class AutoresearchError(MagnetError):
    """Base class of autoresearch errors."""


class SearchSpaceError(AutoresearchError, ValueError):
    """A search space (or its phases) is malformed or does not fit the task's configuration."""


class ProposalRejectedError(AutoresearchError, ValueError):
    """A proposed change lies outside the declared search space (the reason says where)."""


class RunMismatchError(AutoresearchError, ValueError):
    """An output folder holds a run with other settings, so it cannot be resumed with these."""


class ConfigurationError(AutoresearchError, ValueError):
    """A task name, budget or starting configuration cannot be used."""


class DefaultCrashedError(AutoresearchError, RuntimeError):
    """The starting configuration itself crashed, so there is nothing to improve on."""
