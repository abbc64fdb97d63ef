"""The demo market: a fresh local devnet (or another chain), every role its own process.

A sponsor publishes a ``tinylm`` task; three contributors (one honest, one that lies about its
metric, one that uploads a corrupt checkpoint) and a coordinator run as separate ``magnet``
processes for two rounds; then payouts are verified from events and pinned reports. On another
network one funded account deploys, sponsors, and gives fresh role accounts their bond and gas
money, swept back at the end. ``magnet demo`` parses options and renders :class:`DemoResult`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from magnet_market.app.auditor import Audit, Auditor
from magnet_market.app.datasets import publish_dataset
from magnet_market.app.reports import PinnedRound, load_round
from magnet_market.app.session import Session
from magnet_market.app.sponsor import Sponsor
from magnet_market.chain.accounts import devnet_account, resolve_signer
from magnet_market.chain.client import MarketClient
from magnet_market.chain.connection import Connection
from magnet_market.chain.deploy import deploy_market
from magnet_market.chain.devnet import Devnet
from magnet_market.chain.types import DEVNET_FLOORS, DEVNET_RULES
from magnet_market.config import Network, resolve_network
from magnet_market.datasets import PackOptions
from magnet_market.errors import MagnetError
from magnet_market.processes import spawn, stop_child
from magnet_market.storage import ContentStore, KuboStore, LocalStore
from magnet_market.tasks.spec import TaskSpec, fit_to_dataset, load_spec, parse_spec
from magnet_market.units import format_ether

#: The embedded demo task: a small byte-level LM on Python's standard library sources (the
#: package's frozen copy), with a short autoresearch (two trials of the round's 60 steps, from
#: its parent) before each contributor's steps.
DEMO_SPEC: dict[str, Any] = {
    "name": "tinylm-demo",
    "kind": "tinylm",
    "rounds": 2,
    "inner_steps": 60,
    "batch_size": 16,
    "model": {"seq_len": 64, "d_model": 64, "n_layers": 2, "n_heads": 4},
    "search": {"trials": 2},
    "verification": {"claim_tolerance": 0.05, "regression_tolerance": 0.05},
    "market": {
        "bounty": "3ether",
        "claim_bond": "0.1ether",
        "max_contributors": 3,
        "timing": {"submit": 600, "reveal": 300, "merge": 600, "challenge": 60},
    },
}
#: The contributors: one honest, one that lies about its metric, one that uploads garbage.
CONTRIBUTORS = ("honest", "liar", "corrupt")
#: The round the demo's coordinator posts dishonestly (its budget credited to a Sybil), for the
#: validator to catch; a task with fewer rounds has no such round.
SYBIL_ROUND = 1


class DemoError(MagnetError, RuntimeError):
    """The demo could not run to its end (a role process failed, or it ran out of time)."""


@dataclass(frozen=True)
class Cast:
    """Who plays what: the owner deploys, the sponsor pays, the rest run as processes (a
    coordinator, a validator and the contributors)."""

    network: Network
    env: dict[str, str]  # what role processes need to reach the chain
    owner: LocalAccount
    sponsor: LocalAccount
    coordinator: LocalAccount
    validator: LocalAccount
    contributors: tuple[LocalAccount, ...]
    funded: bool  # the role accounts were funded by the sponsor (and are swept back)

    @property
    def role_accounts(self) -> tuple[LocalAccount, ...]:
        """The accounts that run as role processes."""
        return (self.coordinator, self.validator, *self.contributors)


@dataclass(frozen=True)
class DemoResult:
    """What the demo did and found, with the session it ran in (chain and store still up)."""

    session: Session  # signing as the sponsor
    task_id: int
    metric: str
    rounds: list[PinnedRound]
    audit: Audit
    rewards: dict[str, int]  # account → wei booked
    slashed: dict[str, int]  # account → wei slashed (and not given back)
    disputes: list[dict[str, Any]]  # each disputed round: outcome, stake forfeited
    accounts: dict[str, str]  # role name → address
    runs_dir: Path  # the contributors' autoresearch folders
    seconds: float
    # each merged model on its round's sealed holdout slice (None: the key was not revealed)
    holdout: list[float | None] | None = None

    def summary(self) -> dict[str, Any]:
        """The one-line JSON summary of ``magnet demo --json``."""
        return {
            "rounds": len(self.rounds),
            "val_loss_per_round": [r.report["merged_metric"] for r in self.rounds],
            # "outer", or the merge guard's fallback ("average", "best") when the outer step
            # measured worse than the best contribution it merged
            "merge_step_per_round": [r.report.get("merge_step") for r in self.rounds],
            "payouts_verified": self.audit.ok,
            "slashed": sorted(self.slashed),
            "rejected": [
                s["cid"]
                for r in self.rounds
                for s in r.report["submissions"]
                if s["status"] != "accepted"
            ],
            "total_paid_wei": sum(self.rewards.values()),
            # whose published recipe each next round's search started from
            "recipe_winner_per_round": [r.report.get("recipe_author") for r in self.rounds],
            "disputes": self.disputes,
            "metric": self.metric,
            "accounts": self.accounts,
            "seconds": round(self.seconds, 1),
        } | ({} if self.holdout is None else {"holdout_metric_per_round": self.holdout})


@dataclass(frozen=True)
class DemoOptions:
    """How to run the demo (``magnet demo``'s options)."""

    network: str = "devnet"
    account: str | None = None
    ipfs_api: str | None = None
    task_file: Path | None = None
    bounty: int | None = None
    gas_money: int = 2 * 10**16
    timeout: float = 900.0
    dataset: Path | None = None  # the sponsor's own data, packed into the demo's store
    label: str | None = None  # a table's class column (a tabular task)
    time: str | None = None  # a series' time column (a series task)


@contextmanager
def run_demo(
    options: DemoOptions,
    say: Callable[[str], None],
    relay: Callable[[str, str], None],
) -> Iterator[DemoResult]:
    """Run the whole market once; yields its result while its chain and store are still up.

    Args:
        options: where and what to run.
        say: told each step, one line each.
        relay: given each line a role process prints, with the role's name.
    """
    started = time.monotonic()
    spec = demo_spec(options.task_file, options.bounty) if options.dataset is None else None
    home = Path(tempfile.mkdtemp(prefix="magnet-demo-"))
    local = options.network == "devnet"
    with (
        _local_cast() if local else _remote_cast(options.network, options.account) as cast,
        _demo_store(options.ipfs_api, home / "ipfs") as (store, store_args),
    ):
        conn = Connection(cast.network)
        # The demo's own market: a round takes seconds, so it takes the devnet's short floors.
        record = deploy_market(
            conn, cast.owner, save=False, floors=DEVNET_FLOORS, rules=DEVNET_RULES
        )
        say(f"1. {cast.network.name}; MagnetMarket at {record.address}")
        market = MarketClient(conn, record.address, cast.sponsor)
        session = Session.of_market(market, store, record.block)
        if spec is None:
            assert options.dataset is not None
            spec = dataset_demo_spec(store, options, say, home)
        if cast.funded:
            _fund(market, cast, spec, options.gas_money, say)
        try:
            found = _play(cast, spec, session, store_args, home, options.timeout, say, relay)
            if spec.dataset:
                found["holdout"] = [r.report.get("holdout_merged_metric") for r in found["rounds"]]
        finally:
            if cast.funded:
                _sweep(market, cast)
        yield DemoResult(
            session=session,
            runs_dir=home / "work" / "contributor" / "autoresearch",
            seconds=time.monotonic() - started,
            **found,
        )


@contextmanager
def _local_cast() -> Iterator[Cast]:
    """A fresh anvil with one block per second: deadlines pass as on a real chain."""
    with Devnet(block_time=1) as node:
        network = Network("devnet", node.url, node.chain_id)
        yield Cast(
            network,
            {"MAGNET_DEVNET_URL": node.url},
            devnet_account(0),
            devnet_account(1),
            devnet_account(2),
            devnet_account(6),
            tuple(devnet_account(i) for i in (3, 4, 5)),
            funded=False,
        )


@contextmanager
def _remote_cast(network: str, account: str | None) -> Iterator[Cast]:
    """Another chain: the paying account deploys and sponsors; role accounts are created fresh."""
    net = resolve_network(network)
    _ = Connection(net).chain_id
    payer = resolve_signer(net, account)
    roles = [Account.create() for _ in range(2 + len(CONTRIBUTORS))]
    yield Cast(net, {}, payer, payer, roles[0], roles[1], tuple(roles[2:]), funded=True)


def _fund(
    sponsor: MarketClient, cast: Cast, spec: TaskSpec, gas_money: int, say: Callable[[str], None]
) -> None:
    """Give each role account its claim bond and gas money, and the coordinator its stake (the
    market's share of the largest round budget)."""
    for who in cast.role_accounts:
        sponsor.transfer(who.address, spec.market.claim_bond + gas_money)
    each = format_ether(spec.market.claim_bond + gas_money)
    say(f"   funded {len(cast.role_accounts)} role accounts with {each} each")
    rules = sponsor.rules()
    stake = spec.market.bounty * rules.coordinator_stake_bps // 10_000
    sponsor.transfer(cast.coordinator.address, stake)
    seat = rules.validator_stake + spec.market.claim_bond  # a seat, a challenge and a vote
    sponsor.transfer(cast.validator.address, seat)
    say(f"   the coordinator {format_ether(stake)} to stake, the validator {format_ether(seat)}")


def _sweep(client: MarketClient, cast: Cast) -> None:
    """Send what the role accounts hold back to the sponsor."""
    for who in cast.role_accounts:
        client.with_signer(who).sweep(cast.sponsor.address)


def _spawn(
    name: str, args: list[str], env: dict[str, str], relay: Callable[[str, str], None]
) -> tuple[subprocess.Popen, threading.Thread]:
    proc = spawn(
        [sys.executable, "-m", "magnet_market.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )

    def forward() -> None:
        assert proc.stdout is not None
        with proc.stdout:
            for line in proc.stdout:
                relay(name, line.rstrip())

    thread = threading.Thread(target=forward, daemon=True)
    thread.start()
    return proc, thread


def demo_spec(task_file: Path | None, bounty: int | None) -> TaskSpec:
    """The embedded demo task, or the spec in ``task_file``; ``bounty`` overrides its bounty."""
    spec = load_spec(task_file) if task_file else parse_spec(DEMO_SPEC)
    return spec if bounty is None else demo_spec_with_bounty(spec, bounty)


def demo_spec_with_bounty(spec: TaskSpec, bounty: int) -> TaskSpec:
    """``spec`` with another bounty."""
    data = spec.model_dump(mode="json")
    return parse_spec({**data, "market": {**data["market"], "bounty": bounty}})


#: The demo's task on a sponsor's dataset, by kind: sized to train in seconds per round.
DATASET_DEMO: dict[str, dict[str, Any]] = {
    "tabular": {"inner_steps": 60, "batch_size": 32, "model": {"hidden": 32, "n_layers": 1}},
    "series": {"inner_steps": 120, "batch_size": 64, "model": {"hidden": 32, "n_layers": 1}},
    "text": {"inner_steps": 60, "batch_size": 16, "model": DEMO_SPEC["model"]},
}


def dataset_kind(source: Path, label: str | None, time: str | None) -> str:
    """What a demo dataset is: a table with a class column, a series with a time column, or a
    folder of text."""
    if label and time:
        raise DemoError("give --label (a table) or --time (a series), not both")
    if label:
        return "tabular"
    if time:
        return "series"
    if source.is_dir():
        return "text"
    raise DemoError(
        f"{source}: say what it is: --label COL for a table, --time COL for a series "
        "(a folder is packed as text)"
    )


def dataset_demo_spec(
    store: ContentStore, options: DemoOptions, say: Callable[[str], None], home: Path
) -> TaskSpec:
    """Pack ``options.dataset`` into the demo's store, its holdout sealed in one slice per round
    (the keys kept under ``home``, where the demo's sponsor process reads them), and make the
    demo's task on it."""
    assert options.dataset is not None
    kind = dataset_kind(options.dataset, options.label, options.time)
    pack_options = PackOptions(
        kind,
        label=options.label,
        time=options.time,
        holdout_fraction=0.2,  # demo-sized data: enough rows in each round's slice
        holdout_slices=DEMO_SPEC["rounds"],
    )
    packed = publish_dataset(store, options.dataset, pack_options, keys_home=home)
    m = packed.manifest
    say(
        f"   {options.dataset.name} packed as a {kind} dataset: {m.rows:,} rows, holdout sealed "
        f"in {m.slices} slices, {packed.cid}"
    )
    base = {k: v for k, v in DEMO_SPEC.items() if k not in ("kind", "model")}
    # a sponsor's demo-sized data judges in seconds: half the embedded task's challenge window;
    # the sponsor's process reveals each round's holdout key within seconds of its reveals
    timing = DEMO_SPEC["market"]["timing"] | {"challenge": 30, "holdout": 20}
    base["market"] = DEMO_SPEC["market"] | {"timing": timing}
    spec = parse_spec(
        base
        | {"name": f"{options.dataset.stem}-demo", "kind": kind, "dataset": packed.cid}
        | DATASET_DEMO[kind]
    )
    spec = fit_to_dataset(spec, m)  # the model's inputs and classes, as the sponsor will pin
    return spec if options.bounty is None else demo_spec_with_bounty(spec, options.bounty)


def _misbehaviour(role: str, spec: TaskSpec) -> list[str]:
    """The liar claims a metric better than measured (by 1.0 loss or 0.5 accuracy); the corrupt
    contributor publishes truncated checkpoints."""
    if role == "liar":
        return ["--claim-bias", str(-1.0 if spec.lower_is_better else 0.5)]
    return ["--corrupt"] if role == "corrupt" else []


@contextmanager
def _demo_store(ipfs_api: str | None, folder: Path) -> Iterator[tuple[ContentStore, list[str]]]:
    """The store the demo uses, and the flags that give the role processes the same one."""
    if ipfs_api:
        with KuboStore(ipfs_api) as node:
            yield node, ["--ipfs-api", ipfs_api]
    else:
        yield LocalStore(folder), ["--store", str(folder)]


def _play(
    cast: Cast,
    spec: TaskSpec,
    session: Session,
    store_args: list[str],
    home: Path,
    timeout: float,
    say: Callable[[str], None],
    relay: Callable[[str, str], None],
) -> dict[str, Any]:
    """Publish the task, run the role processes to the end, then verify and gather the books."""
    task = Sponsor(session, keys_home=home).publish(spec, cast.coordinator.address)
    say(
        f"2. task {task.task_id} published: spec {task.spec_cid}, "
        f"{format_ether(task.bounty)} in escrow"
    )
    for who in cast.contributors:  # join before round 0 judges who was expected
        session.market.with_signer(who).claim(task.task_id)
    # Four processes share the machine: one torch thread each avoids oversubscription.
    env = {**os.environ, **cast.env, "MAGNET_HOME": str(home), "OMP_NUM_THREADS": "1"}
    env["MAGNET_MARKET_ADDRESS"] = session.market.address
    common = [str(task.task_id), *store_args, "--poll", "0.5", "--network", cast.network.name]
    dishonest = ["--credit-sybil-in", str(SYBIL_ROUND)] if spec.rounds > SYBIL_ROUND else []
    roles = [
        ("coordinator", cast.coordinator, ["coordinator", "run", *common, *dishonest]),
        ("validator", cast.validator, ["validator", "run", *common]),
    ]
    if session.market.holdout(task.task_id).sealed:
        roles.append(("sponsor", cast.sponsor, ["sponsor", "run", *common]))
    for who, name in zip(cast.contributors, CONTRIBUTORS, strict=True):
        args = ["contributor", "run", *common, *_misbehaviour(name, spec)]
        roles.append((name, who, args))
    procs = [
        _spawn(name, args, {**env, "MAGNET_PRIVATE_KEY": who.key.hex()}, relay)
        for name, who, args in roles
    ]
    cheat = f" (crediting a Sybil in round {SYBIL_ROUND})" if dishonest else ""
    keeper = ", the sponsor (its holdout keys)" if len(roles) > 2 + len(CONTRIBUTORS) else ""
    say(
        f"3. coordinator{cheat}, validator{keeper} and 3 contributors running as separate processes"
    )
    deadline = time.monotonic() + timeout
    try:
        for proc, forward in procs:
            try:
                proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                raise DemoError(f"the demo did not finish within {timeout:.0f}s") from None
            forward.join(timeout=5)
    finally:  # however the demo ends (a signal, a timeout), its role processes end with it
        for proc, _ in procs:
            stop_child(proc)
    failed = [name for (name, _, _), (p, _) in zip(roles, procs, strict=True) if p.returncode]
    if failed:
        raise DemoError(f"role processes failed: {failed}")
    info = session.market.task(task.task_id)
    audit = Auditor(session).verify_payouts(task.task_id)
    return {
        "task_id": task.task_id,
        "metric": spec.metric,
        "rounds": [
            load_round(session.store, session.events, task.task_id, r)
            for r in range(info.current_round)
        ],
        "audit": audit,
        "rewards": audit.ledger.rewards_by_account(),
        "slashed": audit.ledger.slashed_by_account(),
        "disputes": [
            {
                "round": d.round,
                "outcome": d.outcome.name.lower(),
                "challengers": len(d.challengers),
                "votes": len(d.votes),
                "forfeited_stake_wei": d.forfeited_stake,
            }
            for d in audit.ledger.disputes.values()
        ],
        "accounts": {name: who.address for name, who, _ in roles},
    }
