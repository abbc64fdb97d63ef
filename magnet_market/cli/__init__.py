"""The ``magnet`` command line: one click group; each sub-module registers one command family."""

from __future__ import annotations

from typing import Any

import click

from magnet_market import __version__
from magnet_market.errors import MagnetError
from magnet_market.processes import exit_on_signals


class MagnetGroup(click.Group):
    """Turns our own errors into clean one-line failures (exit 1) at the CLI boundary."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MagnetError as e:
            raise click.ClickException(f"{type(e).__name__}: {e}") from None


@click.group(cls=MagnetGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="magnet")
def main() -> None:
    """MAGNET Market: train BitNet models for on-chain bounties."""
    # SIGTERM/SIGHUP unwind like Ctrl-C, so every command's nodes and child processes stop.
    click.get_current_context().with_resource(exit_on_signals())


def _register() -> None:
    # Imported here so each command module can import `main` without a cycle.
    from magnet_market.cli import autoresearch as _autoresearch  # noqa: F401
    from magnet_market.cli import chain as _chain  # noqa: F401
    from magnet_market.cli import dashboard as _dashboard  # noqa: F401
    from magnet_market.cli import dataset as _dataset  # noqa: F401
    from magnet_market.cli import demo as _demo  # noqa: F401
    from magnet_market.cli import infer as _infer  # noqa: F401
    from magnet_market.cli import ipfs as _ipfs  # noqa: F401
    from magnet_market.cli import market as _market  # noqa: F401
    from magnet_market.cli import roles as _roles  # noqa: F401


_register()
