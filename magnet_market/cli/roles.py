"""``magnet contributor run`` and ``magnet coordinator run``: the two long-running roles."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import click

from magnet_market.app import Contributor, Coordinator, Session
from magnet_market.cli import main
from magnet_market.cli._common import console, emit_json, format_ether, json_option, with_session

F = TypeVar("F", bound=Callable[..., Any])


def role_options(f: F) -> F:
    """A session with its store, TASK_ID, --workdir and --poll: what every role command takes."""
    f = click.option(
        "--poll", default=1.0, show_default=True, help="Seconds between chain checks."
    )(f)
    f = click.option(
        "--workdir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Scratch folder for checkpoints (default: $MAGNET_HOME/work/<role>).",
    )(f)
    f = click.argument("task_id", type=int)(f)
    return with_session(store=True)(f)


@main.group()
def contributor() -> None:
    """Train for tasks and get paid."""


@contributor.command("run")
@role_options
@click.option(
    "--claim-bias",
    default=0.0,
    hidden=True,
    help="Added to the measured metric before claiming (demo of a dishonest claim).",
)
@click.option(
    "--corrupt",
    is_flag=True,
    hidden=True,
    help="Upload truncated checkpoints (demo of a rejection).",
)
@json_option
def contributor_run(
    session: Session,
    task_id: int,
    workdir: Path | None,
    poll: float,
    claim_bias: float,
    corrupt: bool,
    as_json: bool,
) -> None:
    """Claim a slot in TASK_ID, train every round, claim rewards and withdraw (restartable)."""
    worker = Contributor(session, workdir)
    summary = worker.run(
        task_id, claim_bias=claim_bias, poll=poll, on_progress=console.print, corrupt=corrupt
    )
    if as_json:
        emit_json(asdict(summary))
        return
    console.print(
        f"[green]✓[/] {len(summary.rounds)} rounds, rewards {format_ether(summary.rewards)}, "
        f"withdrew {format_ether(summary.withdrawn)}"
    )


@main.group()
def coordinator() -> None:
    """Merge rounds and pay contributors."""


@coordinator.command("run")
@role_options
@json_option
def coordinator_run(
    session: Session,
    task_id: int,
    workdir: Path | None,
    poll: float,
    as_json: bool,
) -> None:
    """Merge TASK_ID's rounds as they become ready, then close it (restartable)."""
    worker = Coordinator(session, workdir)
    posted = worker.run(task_id, poll=poll, on_progress=console.print)
    if as_json:
        emit_json(
            [
                {
                    "round": p.round,
                    "merged_cid": p.merged_cid,
                    "report_cid": p.report_cid,
                    "merged_metric": p.report.merged_metric,
                    "total_credited": p.total_credited,
                    "slashed": [[who, reason.name.lower()] for who, reason in p.slashed],
                }
                for p in posted
            ]
        )
