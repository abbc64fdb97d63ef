"""Swarm autoresearch against isolated contributors, in the market, at equal compute.

    python benchmarks/swarm.py --json        # K=4 contributors x R=4 rounds, 3 seeds (the figures)
    python benchmarks/swarm.py --seeds 1 --contributors 2 --rounds 2 --trials 2   # a quick look

For every seed the same tinylm task runs twice, each time the whole market on a fresh anvil and
store (sponsor, K contributors and the coordinator as the roles run them, in threads):

* ``swarm``: the market's contributors. Each round starts from the last winning recipe (places
  past the first with another contributor's idea applied), reads the ledgers earlier rounds
  published as its samplers' priors, and starts at its place's phase (``app/swarm.py``);
* ``isolated``: the same contributors with ``swarm=False``: every round from the spec's recipe,
  at the first phase, knowing nothing but its own experiments of the round.

Same accounts, seeds, task and trials per contributor and round, so both arms run the same
number of experiments of the same length; the batch size is the task's, not searched, so every
experiment and every round trains the same examples per step in both arms: equal compute (the
CPU minutes of the searches are printed to show it). Figures, medians over seeds:

* ``swarm_loss``, ``isolated_loss``: the merged model's validation loss after the last round;
  ``swarm_wins``: seeds where sharing ends lower;
* ``duplicate_experiments_pct_*``: experiments (baselines included) that measure a configuration
  somebody already measured on the same parent, over all experiments that ran;
* ``proxy_transfer_rate``: of the candidates promoted by the ladder's proxy run (half the
  round's steps), the share kept at the full budget (both arms).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _report import emit  # sibling module: these scripts run as `python benchmarks/NAME.py`

from magnet_market.app import Session, Sponsor
from magnet_market.app.contributor import Contributor
from magnet_market.app.coordinator import Coordinator
from magnet_market.autoresearch import SPACES, Ledger
from magnet_market.chain.accounts import devnet_account
from magnet_market.chain.client import MarketClient
from magnet_market.chain.connection import Connection
from magnet_market.chain.deploy import deploy_market
from magnet_market.chain.devnet import Devnet
from magnet_market.chain.types import DEVNET_FLOORS, DEVNET_RULES
from magnet_market.config import Network
from magnet_market.storage import LocalStore
from magnet_market.tasks.spec import parse_spec

ARMS = ("swarm", "isolated")
FIXED_BATCH_SPACE = SPACES["tinylm"].without("train.batch_size").model_dump(exclude_none=True)


def task_spec(seed: int, contributors: int, rounds: int, trials: int) -> dict:
    """The demo's tinylm, for ``rounds`` rounds of ``trials`` experiments per contributor."""
    return {
        "name": f"swarm-bench-{seed}",
        "kind": "tinylm",
        "seed": seed,
        "rounds": rounds,
        "inner_steps": 60,
        "batch_size": 16,
        "model": {"seq_len": 64, "d_model": 64, "n_layers": 2, "n_heads": 4},
        # the batch is the task's, not a knob: every arm's experiments and rounds train the
        # same examples per step, so equal trials are equal compute
        "search": {"trials": trials, "proxy": 0.5, "space": FIXED_BATCH_SPACE},
        "verification": {"claim_tolerance": 0.05, "regression_tolerance": 0.05},
        "market": {
            "bounty": "4ether",
            "claim_bond": "0.1ether",
            "max_contributors": contributors,
            "timing": {"submit": 7200, "reveal": 3600, "merge": 7200, "challenge": 0},
        },
    }


def one_market(arm: str, seed: int, args: argparse.Namespace, workdir: Path) -> dict:
    """The market once, every contributor sharing or not; its figures."""
    with Devnet(accounts=3 + args.contributors * args.seeds) as node:
        conn = Connection(Network("devnet", node.url, node.chain_id))
        owner, sponsor, coordinator = (devnet_account(i) for i in range(3))
        people = [
            devnet_account(3 + args.contributors * seed + k) for k in range(args.contributors)
        ]
        record = deploy_market(conn, owner, save=False, floors=DEVNET_FLOORS, rules=DEVNET_RULES)
        market = MarketClient(conn, record.address)
        store = LocalStore(workdir / "store")

        def session(who):
            return Session.of_market(market.with_signer(who), store)

        spec = parse_spec(task_spec(seed, args.contributors, args.rounds, args.trials))
        task = Sponsor(session(sponsor)).publish(spec, coordinator.address).task_id
        workers = [
            Contributor(session(who), workdir / f"c{k}", swarm=arm == "swarm")
            for k, who in enumerate(people)
        ]
        for worker in workers:  # every slot taken before round 0 is judged, in a fixed order
            worker.join(task)
        with ThreadPoolExecutor(len(workers) + 1) as pool:
            runs = [pool.submit(w.run, task, poll=0.5) for w in workers]
            judge = Coordinator(session(coordinator), workdir / "k")
            posted = pool.submit(judge.run, task, poll=0.5).result()
            for run in runs:
                run.result()
    reports = [p.report for p in posted]
    records = [
        (r.round, rec)
        for r in reports
        for w in workers
        for rec in Ledger(w.search_folder(task, r.round)).records(repair=False)
    ]
    ran = [(round_, rec) for round_, rec in records if rec.cpu_seconds]
    seen = Counter((round_, json.dumps(rec.config, sort_keys=True)) for round_, rec in ran)
    baselines = Counter(
        (round_, json.dumps(rec.config, sort_keys=True)) for round_, rec in ran if rec.id == 0
    )
    promoted = [rec for _, rec in ran if rec.proxy_runs and rec.rung == "full"]
    return {
        "loss": reports[-1].merged_metric,
        "loss_per_round": [r.merged_metric for r in reports],
        "experiments": len(ran),
        "duplicates": sum(n - 1 for n in seen.values()),
        "duplicate_baselines": sum(n - 1 for n in baselines.values()),
        "proxy_promoted": len(promoted),
        "proxy_held": sum(rec.status == "keep" for rec in promoted),
        "ideas_credited_wei": sum(i.credit_wei for r in reports for i in r.ideas),
        "search_cpu_minutes": sum(rec.cpu_seconds for _, rec in ran) / 60,
        "winners": [r.recipe_author for r in reports],
    }


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--contributors", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--trials", type=int, default=4, help="per contributor and round")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    started = time.monotonic()
    runs: dict[str, list[dict]] = {arm: [] for arm in ARMS}
    for seed in range(args.seeds):
        for arm in ARMS:
            with tempfile.TemporaryDirectory(prefix=f"magnet-swarm-{arm}-") as tmp:
                os.environ["MAGNET_HOME"] = str(Path(tmp) / "home")
                runs[arm].append(one_market(arm, seed, args, Path(tmp)))
                print(f"seed {seed} {arm}: {runs[arm][-1]}", file=sys.stderr)

    def median(arm: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[arm])

    def duplicate_pct(arm: str) -> float:
        total = sum(r["experiments"] for r in runs[arm])
        return 100 * sum(r["duplicates"] for r in runs[arm]) / max(1, total)

    figures = {
        "swarm_loss": median("swarm", "loss"),
        "isolated_loss": median("isolated", "loss"),
        "swarm_wins": sum(
            s["loss"] < i["loss"] for s, i in zip(runs["swarm"], runs["isolated"], strict=True)
        ),
        "seeds": args.seeds,
        "duplicate_experiments_pct_swarm": duplicate_pct("swarm"),
        "duplicate_experiments_pct_isolated": duplicate_pct("isolated"),
        "proxy_transfer_rate": _rate(
            sum(r["proxy_held"] for arm in ARMS for r in runs[arm]),
            sum(r["proxy_promoted"] for arm in ARMS for r in runs[arm]),
        ),
        "search_cpu_minutes_swarm": sum(r["search_cpu_minutes"] for r in runs["swarm"]),
        "search_cpu_minutes_isolated": sum(r["search_cpu_minutes"] for r in runs["isolated"]),
        "setup": f"tinylm, K={args.contributors} x R={args.rounds}, {args.trials} trials",
        "runs": runs,
        "seconds": round(time.monotonic() - started, 1),
    }
    emit(figures, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
