"""The HTTP status code of every failure the dashboard answers (404, 400, 403, 409)."""

from __future__ import annotations

from magnet_market.app.errors import ActionError, BadRequestError, NotFoundError, RequestError
from magnet_market.errors import MagnetError


class ForbiddenError(RequestError, PermissionError):
    """An action without the server's token, or with no account configured."""


#: Status codes by error class, most specific first; any other request error is a 400.
STATUS: tuple[tuple[type[MagnetError], int], ...] = (
    (NotFoundError, 404),
    (BadRequestError, 400),
    (ForbiddenError, 403),
    (ActionError, 409),
    (RequestError, 400),
)


def status_of(error: MagnetError) -> int:
    """The HTTP status code that answers ``error``."""
    return next((code for cls, code in STATUS if isinstance(error, cls)), 500)
