"""Market-scale figures: the whole market against synchronous data-parallel training.

Usage:
    python benchmarks/market.py --json     # about 80 minutes on 2 cores; one JSON object on stdout
    python benchmarks/market.py --quick    # small sizes, a smoke run (a few minutes)

What runs, in one process tree on this machine:

* **the sponsor's model**: the task's freshly initialised model trained synchronously (below)
  for ``pretrain_steps`` on other batches with the task's recipe, as the DiLoCo paper starts
  from a pretrained model: the sponsor brings it as the task's base (``magnet task create
  --base``); ``--from-init`` starts both sides from the fresh model instead;
* **the market**: a fresh anvil devnet (a block a second) and a local content store; a sponsor
  publishes a ``tinylm`` task (a BitNet b1.58 transformer on the shipped text corpus) whose
  round recipe (its spec's ``optim``) is a constant lr, with no search (``search.trials = 0``:
  the figures are about the protocol, not a search); ``--engine-recipe`` leaves the recipe the
  engine's two-stage schedule, which every contributor restarts each round; K
  contributor processes and a coordinator process run its R rounds exactly as users run them
  (``magnet contributor run``, ``magnet coordinator run``), one torch thread each;
* **the synchronous baselines**, after it: the same base checkpoint trained by ``torchrun`` with
  gloo on 2 ranks, R x H steps of a K x B global batch (the same examples and optimizer steps
  as the market's contributors together), once with the task's recipe and once with the
  engine's over the whole run (only the engine's with ``--engine-recipe``); the gap is against
  the better one.

Keys: market_vs_sync_loss_gap_pct (validation loss of the last round's merged checkpoint vs the
better baseline's, both judged as the coordinator judges, % of the baseline's),
coordinator_round_s_vs_contributor_round_s (median over rounds of the coordinator's time from
the round's last reveal to its post, over the median contributor's time from the round's start
to its commit; both from block timestamps), coordinator_peak_rss_mb_k4 / _k8 (a fresh process
judging the last round as the coordinator does, ``run_round``, on 4 and on 8 submissions of the
model), bytes_per_contributor_round_vs_ddp (a contributor's download of the parent and upload of
its checkpoint, over what one of K data-parallel ranks sends in the same H steps: one fp32
gradient a step), gas_per_contributor_round (all gas the contributors paid, from joining to
withdrawing, over K x R), params, rounds, contributors, seconds.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from _report import emit  # sibling module: these scripts run as `python benchmarks/NAME.py`
from credit_rules import RUN_FILE  # what a kept run leaves for re-judging
from diloco import proc_status_mb  # the DiLoCo benchmark's peak-RSS reading

from magnet_market.app.judging import round_config
from magnet_market.app.reports import load_round
from magnet_market.app.session import Session
from magnet_market.app.sponsor import Sponsor
from magnet_market.bitnet.checkpoint import load, load_into
from magnet_market.bitnet.model import TransformerConfig, build_model
from magnet_market.chain.accounts import devnet_account
from magnet_market.chain.client import MarketClient
from magnet_market.chain.connection import Connection
from magnet_market.chain.deploy import deploy_market
from magnet_market.chain.devnet import Devnet, free_port
from magnet_market.chain.types import DEVNET_FLOORS, DEVNET_RULES
from magnet_market.config import Network
from magnet_market.diloco.round import run_round
from magnet_market.diloco.verify import Submission, judged_metrics
from magnet_market.processes import spawn, stop_child
from magnet_market.storage import LocalStore
from magnet_market.tasks.data import task_data
from magnet_market.tasks.spec import TaskSpec, base_checkpoint, parse_spec

KEYS = (
    "market_vs_sync_loss_gap_pct",
    "coordinator_round_s_vs_contributor_round_s",
    "coordinator_peak_rss_mb_k4",
    "coordinator_peak_rss_mb_k8",
    "bytes_per_contributor_round_vs_ddp",
    "gas_per_contributor_round",
    "params",
    "rounds",
    "contributors",
    "seconds",
)
SYNC_RANKS = 2  # the baseline's torchrun processes: one per core of the reference machine
PRETRAIN_SEED = 777  # the sponsor's model trains on batches the baseline does not draw
# The task's round recipe (its spec's ``optim``): a constant lr of half the engine's peak, no
# warmup or weight decay (from_scratch.py's ``constant`` rows; the engine's two-stage recipe
# restarted every round measured worst there, +11.1 % against +7.5 %)
CONSTANT_LR = {
    "lr": 1.5e-3, "warmup_steps": 0, "weight_decay": 0.0, "stage_split": 1.0,
    "stage1_final": 1.0, "stage2_lr": 1.0, "final_lr": 1.0,
}  # fmt: skip


@dataclass(frozen=True)
class Sizes:
    """One benchmark's sizes (``--quick`` shrinks them)."""

    contributors: int = 4  # K
    rounds: int = 6  # R
    inner_steps: int = 100  # H
    batch: int = 8  # per contributor; the baseline's global batch is K x batch
    # the sponsor's model: synchronous steps (global batch K x batch) before the market starts
    pretrain_steps: int = 300
    # the task's recipe (``optim`` of its spec): the contributors' every round, the sponsor's
    # pretraining and one of the baselines; {} is the engine's (``--engine-recipe``)
    optim: dict[str, Any] = field(default_factory=lambda: dict(CONSTANT_LR))
    # seconds after each post before its credits can be claimed (nobody challenges here: a
    # contributor's last claim waits for the last round's window)
    challenge_s: int = 60
    # 10.9M parameters: 12 x 6 x 384^2 in the blocks + the byte embeddings
    model: TransformerConfig = field(
        default_factory=lambda: TransformerConfig(d_model=384, n_layers=6, n_heads=6, seq_len=128)
    )


QUICK = Sizes(
    rounds=2,
    inner_steps=10,
    pretrain_steps=10,
    challenge_s=5,
    model=TransformerConfig(d_model=64, n_layers=2, n_heads=4, seq_len=64),
)


def task_spec(s: Sizes) -> TaskSpec:
    """The benchmark's task: the tinylm corpus, no search, windows far longer than a round."""
    m = s.model
    return parse_spec(
        {
            "name": "market-benchmark",
            "kind": "tinylm",
            "rounds": s.rounds,
            "inner_steps": s.inner_steps,
            "batch_size": s.batch,
            "model": {
                "seq_len": m.seq_len, "d_model": m.d_model, "n_layers": m.n_layers,
                "n_heads": m.n_heads,
            },
            "optim": s.optim,
            "search": {"trials": 0},
            "market": {
                "bounty": f"{s.rounds}ether",
                "claim_bond": "0.1ether",
                "max_contributors": s.contributors,
                "timing": {
                    "submit": 7200, "reveal": 1800, "merge": 3600, "challenge": s.challenge_s,
                },
            },
        }
    )  # fmt: skip


# --------------------------------------------------------------------------- the market


@dataclass
class MarketRun:
    """What the market run left behind, read from the chain and the store."""

    spec: TaskSpec
    spec_cid: str
    report_cids: list[str]  # the pinned round documents (report and credits tree), by round
    base: Path  # the task's base checkpoint
    final: Path  # the last round's merged checkpoint
    last_parent: Path  # the last round's parent
    last_submissions: list[Path]  # the last round's contributions
    reports: list[dict[str, Any]]
    contributor_round_s: list[float]  # per round: the median contributor's start-to-commit
    coordinator_round_s: list[float]  # per round: last reveal to post
    gas_per_contributor_round: float
    round_bytes: int  # a contributor's last round: the parent it fetched, the file it sent


def sponsor_model(s: Sizes, spec: TaskSpec, home: Path, log) -> Path | None:
    """The model the sponsor brings: the task's fresh model after ``pretrain_steps`` synchronous
    steps on batches of their own (None: no pretraining, the market starts from the fresh one)."""
    if not s.pretrain_steps:
        return None
    fresh = base_checkpoint(spec).save(home / "fresh.safetensors")
    log(f"the sponsor's model: {s.pretrain_steps} synchronous steps from the fresh one")
    out = home / "sponsor.safetensors"
    return ddp_train(s, fresh, out, s.pretrain_steps, PRETRAIN_SEED, spec.optim)


def run_market(s: Sizes, home: Path, log) -> MarketRun:
    """Deploy, publish, run the role processes to the end, and read what they did."""
    spec = task_spec(s)
    brought = sponsor_model(s, spec, home, log)
    owner, sponsor, coordinator = devnet_account(0), devnet_account(1), devnet_account(2)
    contributors = [devnet_account(3 + i) for i in range(s.contributors)]
    store_dir = home / "store"
    with Devnet(block_time=1) as node:
        conn = Connection(Network("devnet", node.url, node.chain_id))
        record = deploy_market(conn, owner, save=False, floors=DEVNET_FLOORS, rules=DEVNET_RULES)
        market = MarketClient(conn, record.address, sponsor)
        store = LocalStore(store_dir)
        session = Session.of_market(market, store, record.block)
        task = Sponsor(session, keys_home=home).publish(spec, coordinator.address, base=brought)
        for who in contributors:
            market.with_signer(who).claim(task.task_id)
        log(f"task {task.task_id} published; {s.contributors} contributors joined")
        env = {
            **os.environ,
            "MAGNET_DEVNET_URL": node.url,
            "MAGNET_HOME": str(home / "roles"),
            "MAGNET_MARKET_ADDRESS": market.address,
            "OMP_NUM_THREADS": "1",
        }
        common = [str(task.task_id), "--store", str(store_dir), "--poll", "0.5"]
        roles = [("coordinator", coordinator, ["coordinator", "run", *common])]
        roles += [(f"contributor{i}", who, ["contributor", "run", *common]) for i, who in
                  enumerate(contributors)]  # fmt: skip
        _run_roles(roles, env, home / "logs", log)
        pinned = [load_round(store, session.events, task.task_id, r) for r in range(s.rounds)]
        reports = [p.report for p in pinned]
        for r, rep in enumerate(reports):
            log(f"  round {r}: {rep['metric']} {rep['merged_metric']:.4f} ({rep['merge_step']})")
        folder = home / "fetched"
        base = store.get_to_path(str(task.base_cid), folder / "base.safetensors")
        final = store.get_to_path(reports[-1]["merged_cid"], folder / "final.safetensors")
        last_parent = store.get_to_path(reports[-1]["parent_cid"], folder / "parent.safetensors")
        last = [
            store.get_to_path(sub["cid"], folder / f"last{i}.safetensors")
            for i, sub in enumerate(reports[-1]["submissions"])
        ]
        contributor_s, coordinator_s = _round_times(session, task.task_id, s.rounds)
        addresses = {who.address.lower() for who in contributors}
        gas = _gas_paid(conn, record.block, addresses)
    return MarketRun(
        spec=spec,
        spec_cid=task.spec_cid,
        report_cids=[p.report_cid for p in pinned],
        base=base,
        final=final,
        last_parent=last_parent,
        last_submissions=last,
        reports=reports,
        contributor_round_s=contributor_s,
        coordinator_round_s=coordinator_s,
        gas_per_contributor_round=gas / (s.contributors * s.rounds),
        round_bytes=last_parent.stat().st_size + last[0].stat().st_size,
    )


def _run_roles(roles: list, env: dict[str, str], logs: Path, log) -> None:
    """Start every role process, wait for all, and fail with the log of any that failed."""
    logs.mkdir(parents=True, exist_ok=True)
    procs = []
    for name, who, args in roles:
        with (logs / f"{name}.log").open("w") as out:
            cmd = [sys.executable, "-m", "magnet_market.cli", *args]
            procs.append(spawn(cmd, env={**env, "MAGNET_PRIVATE_KEY": who.key.hex()},
                               stdout=out, stderr=subprocess.STDOUT))  # fmt: skip
    log(f"{len(procs)} role processes running (logs in {logs})")
    try:
        for proc in procs:
            proc.wait()
    finally:
        for proc in procs:
            stop_child(proc)
    failed = [name for (name, _, _), p in zip(roles, procs, strict=True) if p.returncode]
    if failed:
        tail = (logs / f"{failed[0]}.log").read_text()[-2000:]
        raise RuntimeError(f"role processes failed: {failed}; {failed[0]}'s log ends:\n{tail}")


def _round_times(session: Session, task_id: int, rounds: int) -> tuple[list[float], list[float]]:
    """Per round, from block timestamps: the median contributor's time from the round's start
    (the task's creation, then the previous round's post) to its commit, and the coordinator's
    from the round's last reveal to its post."""
    events, w3 = session.events, session.market.w3

    def at(e: dict) -> int:
        return w3.eth.get_block(e["blockNumber"])["timestamp"]

    start = at(events.get("TaskCreated", taskId=task_id)[0])
    contributor, coordinator = [], []
    for r in range(rounds):
        commits = [at(e) for e in events.get("SubmissionCommitted", taskId=task_id, round=r)]
        reveals = [at(e) for e in events.get("SubmissionRevealed", taskId=task_id, round=r)]
        posted = at(events.get("RoundPosted", taskId=task_id, round=r)[0])
        contributor.append(statistics.median(c - start for c in commits))
        coordinator.append(posted - max(reveals))
        start = posted
    return contributor, coordinator


def _gas_paid(conn: Connection, first_block: int, senders: set[str]) -> int:
    """Gas used by every transaction ``senders`` sent since ``first_block``."""
    w3, total = conn.w3, 0
    for number in range(first_block, w3.eth.block_number + 1):
        for tx in w3.eth.get_block(number, full_transactions=True)["transactions"]:
            if tx["from"].lower() in senders:
                total += w3.eth.get_transaction_receipt(tx["hash"])["gasUsed"]
    return total


# --------------------------------------------------------------------------- the baseline


def ddp_train(
    s: Sizes, parent: Path, out: Path, steps: int, seed: int, optim: dict[str, Any]
) -> Path:
    """Synchronous data-parallel training with the recipe ``optim`` (a spec's ``optim``) over
    ``steps``, a K x batch global batch: ``torchrun``, gloo."""
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [
        str(torchrun), "--nnodes", "1", "--nproc-per-node", str(SYNC_RANKS),
        "--master-addr", "127.0.0.1", "--master-port", str(free_port()),
        "-m", "magnet_market.diloco.ddp_worker", "--task", "tinylm",
        "--parent", str(parent), "--out", str(out), "--steps", str(steps),
        "--global-batch", str(s.contributors * s.batch), "--optim", json.dumps(optim),
        "--seed", str(seed),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
    return out


def run_sync(s: Sizes, base: Path, folder: Path, log) -> dict[str, Path]:
    """The baselines: the task's base checkpoint trained synchronously over the market's steps,
    with the task's recipe and with the engine's over the whole run (one schedule, annealed at
    the end, which a run on one machine has and the market's restarted rounds do not)."""
    steps = s.rounds * s.inner_steps
    recipes = {"task": s.optim, "engine": {}} if s.optim else {"engine": {}}
    out = {}
    for name, optim in recipes.items():
        log(f"synchronous baseline, the {name}'s recipe: {steps} steps of "
            f"{s.contributors * s.batch} on {SYNC_RANKS} ranks")  # fmt: skip
        out[name] = ddp_train(s, base, folder / f"sync-{name}.safetensors", steps, 0, optim)
    return out


# --------------------------------------------------------------------------- the coordinator


def judge_in_child(
    spec: TaskSpec, parent: Path, parent_cid: str, subs: list[Path], out: Path
) -> dict:
    """Judge one round as the coordinator does, in a fresh process: seconds and peak RSS."""
    cmd = [sys.executable, __file__, "--judge-only", spec.model_dump_json(), str(parent),
           parent_cid, str(out), *map(str, subs)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def judge_only(spec_json: str, parent: str, parent_cid: str, out: str, subs: list[str]) -> None:
    torch.set_num_threads(1)
    spec = parse_spec(json.loads(spec_json))
    before = proc_status_mb("VmRSS")
    t0 = time.perf_counter()
    outcome = run_round(
        task_id=1,
        round_index=0,
        parent_path=parent,
        parent_cid=parent_cid,
        model_config=spec.model_config_obj(),
        submissions=[Submission(f"sub{i}", f"0x{i:040x}", Path(p)) for i, p in enumerate(subs)],
        evaluate=task_data(spec).evaluate,
        reward_wei=10**18,
        out=out,
        config=round_config(spec),
    )
    seconds = time.perf_counter() - t0
    accepted = sum(s.status == "accepted" for s in outcome.report.submissions)
    print(json.dumps({"seconds": seconds, "peak_rss_mb": proc_status_mb("VmHWM"),
                      "rss_before_mb": before, "accepted": accepted}))  # fmt: skip


def judged_loss(spec: TaskSpec, path: Path) -> float:
    """The coordinator's measure of a checkpoint: the judged validation loss."""
    model = build_model(spec.model_config_obj())
    load_into(model, load(path))
    return judged_metrics(model, task_data(spec).evaluate)[spec.metric]


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    ap.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    ap.add_argument(
        "--from-init", action="store_true", help="start from the fresh model (no sponsor's model)"
    )
    ap.add_argument(
        "--engine-recipe",
        action="store_true",
        help="the task sets no recipe: contributors restart the engine's two-stage schedule",
    )
    ap.add_argument(
        "--keep",
        type=Path,
        metavar="RUN",
        help="run in this new folder and keep it (its store and run.json: the input of "
        "benchmarks/credit_rules.py)",
    )
    ap.add_argument("--judge-only", nargs="+", help=argparse.SUPPRESS)  # child of the RSS figure
    args = ap.parse_args(argv)
    if args.judge_only:
        spec_json, parent, parent_cid, out, *subs = args.judge_only
        judge_only(spec_json, parent, parent_cid, out, subs)
        return 0
    log = functools.partial(print, file=sys.stderr if args.json else sys.stdout, flush=True)
    torch.set_num_threads(1)
    s = QUICK if args.quick else Sizes()
    if args.from_init:
        s = replace(s, pretrain_steps=0)
    if args.engine_recipe:
        s = replace(s, optim={})
    params = sum(p.numel() for p in build_model(s.model).parameters())
    log(f"sizes: {s}; {params / 1e6:.1f}M parameters; load average {os.getloadavg()[0]:.2f}")
    started = time.perf_counter()
    if args.keep:
        args.keep.mkdir(parents=True)  # a new folder: a kept run is never mixed with another
    with tempfile.TemporaryDirectory() as tmp:
        home = args.keep or Path(tmp)
        t0 = time.perf_counter()
        market = run_market(s, home, log)
        market_s = time.perf_counter() - t0
        run = {"spec_cid": market.spec_cid, "report_cids": market.report_cids}
        (home / RUN_FILE).write_text(json.dumps(run, indent=1) + "\n")
        t0 = time.perf_counter()
        syncs = run_sync(s, market.base, home, log)
        sync_s = time.perf_counter() - t0
        base_loss = judged_loss(market.spec, market.base)
        market_loss = judged_loss(market.spec, market.final)
        sync_losses = {name: judged_loss(market.spec, path) for name, path in syncs.items()}
        sync_recipe = min(sync_losses, key=sync_losses.__getitem__)  # the better baseline
        sync_loss = sync_losses[sync_recipe]
        log(f"market {market_loss:.4f} ({market_s:.0f} s), sync {sync_losses} ({sync_s:.0f} s)")
        judged = {}
        for k in (4, 8):
            subs = (market.last_submissions * k)[:k]  # the round's own files, repeated to k
            parent_cid = market.reports[-1]["parent_cid"]
            out = home / f"judged{k}.safetensors"
            judged[k] = judge_in_child(market.spec, market.last_parent, parent_cid, subs, out)
            log(f"judging {k} submissions: {judged[k]}")
    grad_bytes = 4 * params  # one fp32 gradient per step per rank
    res: dict[str, Any] = {
        "market_vs_sync_loss_gap_pct": 100 * (market_loss - sync_loss) / sync_loss,
        "coordinator_round_s_vs_contributor_round_s": statistics.median(market.coordinator_round_s)
        / statistics.median(market.contributor_round_s),
        "coordinator_peak_rss_mb_k4": judged[4]["peak_rss_mb"],
        "coordinator_peak_rss_mb_k8": judged[8]["peak_rss_mb"],
        "bytes_per_contributor_round_vs_ddp": market.round_bytes / (s.inner_steps * grad_bytes),
        "gas_per_contributor_round": market.gas_per_contributor_round,
        "params": params,
        "rounds": s.rounds,
        "contributors": s.contributors,
        "seconds": time.perf_counter() - started,
        "base_val_loss": base_loss,
        "market_val_loss": market_loss,
        "sync_val_loss": sync_loss,
        "sync_recipe": sync_recipe,
        "sync_val_loss_by_recipe": sync_losses,
        "market_s": market_s,
        "sync_s": sync_s,
        "val_loss_per_round": [r["merged_metric"] for r in market.reports],
        "merge_step_per_round": [r["merge_step"] for r in market.reports],
        "contributor_round_s": market.contributor_round_s,
        "coordinator_round_s": market.coordinator_round_s,
        "judge_s_k4": judged[4]["seconds"],
        "judge_s_k8": judged[8]["seconds"],
        "contributor_round_bytes": market.round_bytes,
        "sizes": asdict(s),
    }
    emit({k: res.pop(k) for k in KEYS} | res, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
