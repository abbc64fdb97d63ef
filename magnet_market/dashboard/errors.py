"""Errors the dashboard answers with a status code instead of a page (404, 400)."""

from __future__ import annotations

from magnet_market.errors import MagnetError


class DashboardError(MagnetError):
    """A request the dashboard cannot answer; ``status`` is its HTTP status code."""

    status = 500


class NotFoundError(DashboardError, LookupError):
    """No such task, round, contributor or run."""

    status = 404


class BadRequestError(DashboardError, ValueError):
    """A malformed id or address in the request."""

    status = 400


class ActionError(DashboardError):
    """A transaction the dashboard was asked to send failed or was refused."""

    status = 409


class ForbiddenError(DashboardError, PermissionError):
    """An action without the server's token, or with no account configured."""

    status = 403
