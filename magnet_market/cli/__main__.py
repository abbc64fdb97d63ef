"""``python -m magnet_market.cli``: the same as the ``magnet`` command."""

from magnet_market.cli import main

main()
