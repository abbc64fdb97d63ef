"""What a submission publishes about the search behind it: the recipe it trained with and the CID
of its experiment ledger, from the checkpoint's ``search`` metadata.

The checkpoint's bytes carry them, so the CID the contributor committed to binds them: they
cannot be swapped after the reveal. Both are the contributor's statements, not something the
weights prove; the round report lists them for every accepted contribution, the next round starts
from the most improving one's recipe, and every contributor can read the others' experiments.
They come from strangers and are read defensively: a recipe is a flat map of at most
:data:`MAX_KNOBS` dotted keys to plain scalars, a ledger CID a short alphanumeric string. Anything
else is left out of the report, never an error: it says nothing about the weights.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

Recipe = dict[str, bool | int | float | str]

MAX_KNOBS = 256
_KNOB = re.compile(r"[a-z][a-z0-9_]*\.[a-z0-9_]{1,64}")
_CID = re.compile(r"[A-Za-z0-9]{10,128}")
_MAX_TEXT = 64  # characters of a string knob value


@dataclass(frozen=True)
class PublishedSearch:
    """A submission's recipe, the changes its own search made to reach it (its ideas: part of
    the recipe, possibly none) and its ledger CID; each ``None`` when absent or malformed."""

    recipe: Recipe | None = None
    changes: Recipe | None = None
    ledger_cid: str | None = None


def published_search(extra: Mapping[str, str]) -> PublishedSearch:
    """The recipe and ledger CID in a checkpoint's extra metadata (``search``: a JSON object
    with ``recipe`` and ``ledger``)."""
    try:
        search = json.loads(extra.get("search", "{}"))
    except (ValueError, RecursionError):
        return PublishedSearch()
    if not isinstance(search, dict):
        return PublishedSearch()
    ledger = search.get("ledger")
    recipe = _recipe(search.get("recipe"))
    changes = _recipe(search.get("changes"), empty=True)
    if recipe is None or (changes and any(recipe.get(k) != v for k, v in changes.items())):
        changes = None  # ideas must be part of the recipe they led to
    return PublishedSearch(
        recipe=recipe,
        changes=changes,
        ledger_cid=ledger if isinstance(ledger, str) and _CID.fullmatch(ledger) else None,
    )


def _recipe(value: object, empty: bool = False) -> Recipe | None:
    if not isinstance(value, dict) or not (empty or value) or len(value) > MAX_KNOBS:
        return None
    for key, knob in value.items():
        if not isinstance(key, str) or not _KNOB.fullmatch(key) or not _plain(knob):
            return None
    return dict(value)


def _plain(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str):
        return len(value) <= _MAX_TEXT
    return isinstance(value, bool | int) and abs(value) < 2**63
