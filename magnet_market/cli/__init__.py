"""The ``magnet`` command line: one click group; each sub-module registers one command family."""

from __future__ import annotations

import click

from magnet_market import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="magnet")
def main() -> None:
    """MAGNET Market: train BitNet models for on-chain bounties."""


def _register() -> None:
    # Imported here so each command module can import `main` without a cycle.
    from magnet_market.cli import chain as _chain  # noqa: F401


_register()
