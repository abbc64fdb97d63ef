"""Errors of the DiLoCo merge layer, rooted at :class:`magnet_market.errors.MagnetError`.

A submission that fails verification is not an error: it gets a failed check in its
:class:`~magnet_market.diloco.verify.Verdict`. These exceptions are for inputs the coordinator
itself got wrong (mismatched files, bad settings), where carrying on would merge garbage.
"""

from __future__ import annotations

from magnet_market.errors import MagnetError


class DilocoError(MagnetError):
    """Base class of DiLoCo merge, verification and credit errors."""


class MergeInputError(DilocoError, ValueError):
    """The checkpoints handed to a merge do not fit together (names, shapes, dtypes, count)."""


class NonFiniteMergeError(DilocoError, ArithmeticError):
    """The outer step produced NaN/Inf; the merge is discarded and the parent stays global."""
