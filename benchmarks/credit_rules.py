"""A market run's rounds judged again under each credit rule: what each pays, what it costs.

Usage:
    python benchmarks/market.py --json --keep RUN     # a market run that keeps its folder
    python benchmarks/credit_rules.py RUN [--json]    # its rounds under every credit rule

Every round of the kept run (a task without a sealed holdout or credited ideas, which only the
chain's events rebuild) is judged again from its own inputs (the parent and the revealed
checkpoints, fetched from the run's store by the CIDs its pinned reports list), once per rule
of ``diloco.credit.CREDIT_RULES``, side by side in this process with one torch thread: the
coordinator's ``run_round`` with the task's rules and only ``credit`` changed. Credit never
changes the merge, so every rule's round has the posted merge; what changes is who is paid and
the judging time. The task's own rule must reproduce the posted credits to the wei (checked:
the run fails otherwise).

Keys: ``credited_share_<rule>`` (per round, the share of the round's reward its work was
credited: 0 where the rule paid nothing and the reward rolled over), ``credited_by_<rule>``
(per round), ``judge_s_<rule>`` (per round), ``judge_s_vs_improvement_<rule>`` (the median
round's judging time over the ``improvement`` rule's), ``rounds``.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from _report import emit  # sibling module: these scripts run as `python benchmarks/NAME.py`

from magnet_market.app.judging import round_config
from magnet_market.diloco.credit import CREDIT_RULES
from magnet_market.diloco.round import run_round
from magnet_market.diloco.verify import Evaluate, Submission
from magnet_market.storage import LocalStore
from magnet_market.tasks.data import task_data
from magnet_market.tasks.spec import TaskSpec, spec_from_bytes

#: What ``benchmarks/market.py --keep RUN`` writes beside the run's store.
RUN_FILE = "run.json"


def load_run(folder: Path) -> tuple[TaskSpec, LocalStore, list[dict[str, Any]]]:
    """The kept run's spec, store and pinned round documents (report and credits tree)."""
    run = json.loads((folder / RUN_FILE).read_text())
    store = LocalStore(folder / "store")
    spec = spec_from_bytes(store.get(run["spec_cid"]))
    return spec, store, [json.loads(store.get(cid)) for cid in run["report_cids"]]


def fetch_round(store: LocalStore, report: dict[str, Any], folder: Path) -> list[Submission]:
    """Round ``report``'s parent (to ``folder/parent.safetensors``) and its revealed
    submissions, fetched once for every rule's judging."""
    store.get_to_path(report["parent_cid"], folder / "parent.safetensors")
    return [
        Submission(
            s["cid"],
            s["author"],
            store.get_to_path(s["cid"], folder / f"{i}.safetensors"),
            claimed_metric=s["claimed"],
        )
        for i, s in enumerate(report["submissions"])
    ]


def rejudge(
    spec: TaskSpec,
    evaluate: Evaluate,
    report: dict[str, Any],
    submissions: list[Submission],
    rule: str,
    folder: Path,
) -> tuple[list[int], str | None, float]:
    """Round ``report`` (fetched to ``folder``) judged again under credit ``rule``: each
    submission's wei, the rule the work was scored by, and the seconds ``run_round`` took."""
    t0 = time.perf_counter()
    outcome = run_round(
        task_id=report["task_id"],
        round_index=report["round"],
        parent_path=folder / "parent.safetensors",
        parent_cid=report["parent_cid"],
        model_config=spec.model_config_obj(),
        submissions=submissions,
        evaluate=evaluate,
        reward_wei=int(report["reward_wei"]),
        out=folder / f"merged-{rule}.safetensors",
        config=dataclasses.replace(round_config(spec), credit=rule),
    )
    took = time.perf_counter() - t0
    return [s.credit_wei for s in outcome.report.submissions], outcome.report.credited_by, took


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="a folder kept by benchmarks/market.py --keep")
    ap.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = ap.parse_args(argv)
    log = functools.partial(print, file=sys.stderr if args.json else sys.stdout, flush=True)
    torch.set_num_threads(1)
    spec, store, documents = load_run(args.run)
    evaluate = task_data(spec).evaluate
    res: dict[str, Any] = {"rounds": len(documents)}
    for document in documents:
        report = document["report"]
        if report["ideas"] or report["credited_on"] != "val":
            raise SystemExit(
                f"round {report['round']} credited ideas or a holdout, which only the chain's "
                "events rebuild; judge it with `magnet verify round`"
            )
        posted = [int(s["credit_wei"]) for s in report["submissions"]]
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            submissions = fetch_round(store, report, folder)
            judged = {
                rule: rejudge(spec, evaluate, report, submissions, rule, folder)
                for rule in CREDIT_RULES
            }
        for rule, (credits, credited_by, took) in judged.items():
            if rule == report["config"]["credit"] and credits != posted:
                raise SystemExit(f"round {report['round']}: judged again, {rule} credits "
                                 f"{credits} where the posted report has {posted}")  # fmt: skip
            share = sum(credits) / int(report["reward_wei"])
            log(f"round {report['round']} {rule}: {share:.0%} credited by {credited_by} "
                f"({took:.1f} s)")  # fmt: skip
            res.setdefault(f"credited_share_{rule}", []).append(share)
            res.setdefault(f"credited_by_{rule}", []).append(credited_by)
            res.setdefault(f"judge_s_{rule}", []).append(took)
    for rule in CREDIT_RULES:
        pairs = zip(res[f"judge_s_{rule}"], res["judge_s_improvement"], strict=True)
        ratios = [a / b for a, b in pairs]
        res[f"judge_s_vs_improvement_{rule}"] = statistics.median(ratios)
    emit(res, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
