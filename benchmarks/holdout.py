"""What training on the public split earns, credited on validation vs on the sealed holdout.

    python benchmarks/holdout.py --json          # 3 runs (the note's figures)
    python benchmarks/holdout.py --runs 5

Each run is the market on a fresh anvil and store: scikit-learn's digits written as a user's
CSV, packed with its holdout sealed (split seed = the run), a one-round task, an honest
contributor training on the training split and an overfitter training on the validation split
(``tests/roles/test_sealed_holdout.py``'s roles), the sponsor revealing the key, the
coordinator crediting on the slice. For every run it prints both contributors' metric on the
validation split and on the holdout slice, the share of the round's reward the overfitter got
(credited on the holdout), and the share it would have got credited on validation (the same
rule, ``largest_remainder`` of the positive improvements, on the validation improvements the
report also records).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _report import emit  # sibling module: these scripts run as `python benchmarks/NAME.py`

from magnet_market.app import Session, Sponsor
from magnet_market.app.contributor import Contributor
from magnet_market.app.coordinator import Coordinator
from magnet_market.app.sponsor import HoldoutRevealer
from magnet_market.chain.accounts import devnet_account
from magnet_market.chain.client import MarketClient
from magnet_market.chain.connection import Connection
from magnet_market.chain.deploy import deploy_market
from magnet_market.chain.devnet import Devnet
from magnet_market.chain.types import DEVNET_FLOORS, DEVNET_RULES
from magnet_market.config import Network
from magnet_market.diloco.credit import largest_remainder
from magnet_market.storage import LocalStore
from magnet_market.tasks.spec import parse_spec
from tests.roles.test_sealed_holdout import Overfitter, digits_task, work_both


def one_run(run: int, workdir: Path) -> dict[str, float]:
    """The market once; the figures of its round."""
    with Devnet() as node:
        conn = Connection(Network("devnet", node.url, node.chain_id))
        owner, sponsor, coordinator = (devnet_account(i) for i in range(3))
        honest_key, cheat_key = devnet_account(3 + 2 * run), devnet_account(4 + 2 * run)
        record = deploy_market(conn, owner, save=False, floors=DEVNET_FLOORS, rules=DEVNET_RULES)
        market = MarketClient(conn, record.address)
        store = LocalStore(workdir / "store")

        def session(who):
            return Session.of_market(market.with_signer(who), store)

        spec = parse_spec(digits_task(workdir, store, rounds=1, split_seed=run))
        task = Sponsor(session(sponsor)).publish(spec, coordinator.address).task_id
        honest = Contributor(session(honest_key), workdir / "honest")
        cheat = Overfitter(session(cheat_key), workdir / "overfitter")
        for who in (honest, cheat):
            who.join(task)
        work_both(market, task, honest, cheat)
        keeper = HoldoutRevealer(session(sponsor), workdir / "sponsor")
        keeper.reveal_due(task, keeper.keys(task))
        report = Coordinator(session(coordinator), workdir / "k").merge_round(task).report
    lines = {s.author: s for s in report.submissions}
    fair, over = lines[honest_key.address], lines[cheat_key.address]
    on_val = largest_remainder(
        [max(0.0, fair.improvement or 0.0), max(0.0, over.improvement or 0.0)], report.reward_wei
    )
    return {
        "honest_val": fair.measured,
        "overfitter_val": over.measured,
        "honest_holdout": fair.holdout_metric,
        "overfitter_holdout": over.holdout_metric,
        "overfitter_share_credited_on_holdout": over.credit_wei / report.reward_wei,
        "overfitter_share_if_credited_on_val": on_val[1] / report.reward_wei,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    started = time.monotonic()
    runs = []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="magnet-holdout-") as tmp:
            os.environ["MAGNET_HOME"] = str(Path(tmp) / "home")  # the sponsor's keys, salts
            runs.append(one_run(run, Path(tmp)))
    share = [r["overfitter_share_credited_on_holdout"] for r in runs]
    share_val = [r["overfitter_share_if_credited_on_val"] for r in runs]
    figures = {
        "runs": runs,
        "overfitter_beats_honest_on_val": sum(r["overfitter_val"] > r["honest_val"] for r in runs),
        "overfitter_share_credited_on_holdout_mean": sum(share) / len(share),
        "overfitter_share_if_credited_on_val_mean": sum(share_val) / len(share_val),
        "seconds": round(time.monotonic() - started, 1),
    }
    emit(figures, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
