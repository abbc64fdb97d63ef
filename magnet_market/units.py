"""Ether amounts as people write them (``3ether``, ``20 gwei``) and as the chain keeps them."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

_UNITS = {"wei": 0, "gwei": 9, "ether": 18, "eth": 18}


def parse_wei(value: str | int) -> int:
    """Wei in ``value``: ``3ether``, ``0.5 eth``, ``20gwei`` or a plain integer of wei.

    Raises:
        ValueError: not an amount, negative, or a fraction of a wei.
    """
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{value} is negative; amounts are whole, non-negative wei")
        return value
    text = str(value).strip().lower().replace(" ", "")
    unit = next((u for u in sorted(_UNITS, key=len, reverse=True) if text.endswith(u)), "")
    try:
        wei = Decimal(text.removesuffix(unit) if unit else text) * (
            Decimal(10) ** _UNITS.get(unit, 0)
        )
    except InvalidOperation:
        raise ValueError(f"{value!r} is not an amount (e.g. 3ether, 20gwei, 1000)") from None
    if wei != wei.to_integral_value() or wei < 0:
        raise ValueError(f"{value!r} is not a whole, non-negative number of wei")
    return int(wei)


def format_ether(wei: int) -> str:
    """``1.5 ETH`` style, exact (no float rounding)."""
    text = format(Decimal(wei) / Decimal(10**18), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text} ETH"
