"""How every benchmark ends: one JSON object, or a ``---`` line and a ``key: value`` block."""

from __future__ import annotations

import json
from typing import Any


def emit(figures: dict[str, Any], as_json: bool) -> None:
    """Print ``figures`` (floats to 4 decimals) for scripts (``--json``) or for a line-grep."""
    figures = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in figures.items()}
    if as_json:
        print(json.dumps(figures))
        return
    print("---")
    for key, value in figures.items():
        print(f"{key}: {value}")
