"""Errors of the application layer: what a caller asked for is absent, malformed or refused.

The interface turns them into its own answers (a CLI error line, an HTTP status code); it also
meets the chain's failures through here (``ChainError``, ``UNREACHABLE``), never by importing
the chain adapter.
"""

from __future__ import annotations

from magnet_market.chain.connection import TRANSPORT_ERRORS
from magnet_market.chain.errors import ChainError, RPCUnavailableError
from magnet_market.errors import MagnetError

__all__ = [
    "UNREACHABLE",
    "ActionError",
    "BadRequestError",
    "ChainError",
    "NotFoundError",
    "RPCUnavailableError",
    "RequestError",
]

#: Failures that mean the chain's node did not answer (try again later), as opposed to an answer.
UNREACHABLE: tuple[type[Exception], ...] = (RPCUnavailableError, *TRANSPORT_ERRORS)


class RequestError(MagnetError):
    """A request the application cannot answer as asked."""


class NotFoundError(RequestError, LookupError):
    """No such task, round, contributor or run."""


class BadRequestError(RequestError, ValueError):
    """A malformed id or address."""


class ActionError(RequestError):
    """A transaction that was asked for failed or was refused."""
