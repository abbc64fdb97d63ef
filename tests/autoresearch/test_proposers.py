"""Optuna proposers: diffs against the best, known answers for repeats, exhausted phases."""

from __future__ import annotations

import dataclasses
import math

from magnet_market.autoresearch import DEFAULTS, Record, SearchSpace
from magnet_market.autoresearch.proposers import OptunaProposer, ProposalContext
from magnet_market.autoresearch.recipes import PRUNING

SPACE = SearchSpace.parse(
    {
        "knobs": {
            "model.hidden": {"kind": "choice", "choices": [64, 128]},
            "optim.lr": {"kind": "float", "low": 1e-3, "high": 1e-2, "log": True},
        },
        "phases": [
            {"name": "width", "knobs": ["model.hidden"]},
            {"name": "lr", "knobs": ["optim.lr"]},
        ],
    }
)
BEST = Record(
    id=0,
    parent=None,
    phase="baseline",
    status="keep",
    description="default",
    config=DEFAULTS["digits"],
    metric=0.95,
    runs=[0.95, 0.95],
    curve=[0.5, 0.8],
)


def _ctx(phase: str) -> ProposalContext:
    return ProposalContext(
        task="digits",
        metric="balanced_accuracy",
        direction="maximize",
        space=SPACE,
        phase=SPACE.phase(phase),
        best=BEST,
        history=[BEST],
    )


def test_a_small_choice_phase_runs_dry_instead_of_repeating(tmp_path) -> None:
    proposer = OptunaProposer(tmp_path / "study.db", "maximize", seed=0)
    first = proposer.propose(_ctx("width"))
    assert first is not None and first.changes == {"model.hidden": 64}  # 128 is the best's
    proposer.finish(first, "complete", 0.9)
    assert proposer.propose(_ctx("width")) is None  # only repeats left: known answers, no run


def test_proposals_are_diffs_inside_the_phase_and_resume_does_not_replay(tmp_path) -> None:
    proposer = OptunaProposer(tmp_path / "study.db", "maximize", sampler="random", seed=0)
    seen = []
    for _ in range(3):
        p = proposer.propose(_ctx("lr"))
        assert set(p.changes) == {"optim.lr"} and 1e-3 <= p.changes["optim.lr"] <= 1e-2
        seen.append(p.changes["optim.lr"])
        proposer.finish(p, "complete", 0.9)
    resumed = OptunaProposer(tmp_path / "study.db", "maximize", sampler="random", seed=0)
    assert resumed.propose(_ctx("lr")).changes["optim.lr"] not in seen


def test_pruning_follows_the_task_and_never_applies_to_random_search(tmp_path) -> None:
    assert PRUNING == {
        "tinylm": True,
        "digits": False,
        "series": False,
        "tabular": False,
        "text": True,
    }
    cases = [("a", "tpe", True), ("b", "tpe", False), ("c", "random", True), ("d", "gp", True)]
    for name, sampler, prune in cases:
        proposer = OptunaProposer(tmp_path / f"{name}.db", "maximize", sampler=sampler, prune=prune)
        for i in range(3):  # two finished trials (the pruner's startup), then a poor curve
            p = proposer.propose(_ctx("lr"))
            value = 0.1 if i == 2 else 0.9
            pruned = any(proposer.should_prune(p, k, value) for k in range(1, 8))
            proposer.finish(p, "pruned" if pruned else "complete", None if pruned else 0.9)
        assert pruned == (sampler != "random" and prune), (sampler, prune)


def test_the_gaussian_process_closes_in_on_a_smooth_optimum(tmp_path) -> None:
    def metric(lr: float) -> float:  # best at lr = 0.006, the default's is 0.003
        return 0.95 - math.log(lr / 6e-3) ** 2

    proposer = OptunaProposer(tmp_path / "study.db", "maximize", sampler="gp", seed=0)
    distances = []
    for _ in range(8):
        p = proposer.propose(_ctx("lr"))
        lr = p.changes["optim.lr"]
        distances.append(abs(math.log(lr / 6e-3)))
        proposer.finish(p, "complete", metric(lr))
    assert sum(distances[-4:]) < sum(distances[:4]) / 2  # modelled, not drawn at random
    assert min(distances) < 0.1  # within 10 % of the optimum


def test_any_seed_gives_a_sampler(tmp_path) -> None:
    """A contributor's seed (its address plus the round) plus a phase's hash passes 2**32."""
    for sampler in ("tpe", "gp", "random"):
        proposer = OptunaProposer(
            tmp_path / f"{sampler}.db", "maximize", sampler=sampler, seed=2**31 + 7
        )
        assert proposer.propose(_ctx("lr")) is not None
        assert OptunaProposer(tmp_path / f"{sampler}-.db", "maximize", seed=-1).propose(
            _ctx("width")
        )


def test_a_dry_phase_stays_dry_on_resume_after_the_best_moved(tmp_path) -> None:
    """A resumed run ends each phase where the uninterrupted one did: it revisits the earlier
    phases (their trials are counted), and one that ran dry must not run again on the best a
    later phase kept since."""
    proposer = OptunaProposer(tmp_path / "study.db", "maximize", seed=0)
    first = proposer.propose(_ctx("width"))
    proposer.finish(first, "complete", 0.9)
    assert proposer.propose(_ctx("width")) is None
    later_best = dataclasses.replace(BEST, id=7, config={**BEST.config, "optim.lr": 0.005})
    resumed = OptunaProposer(tmp_path / "study.db", "maximize", seed=0)
    ctx = dataclasses.replace(_ctx("width"), best=later_best, history=[BEST, later_best])
    assert resumed.propose(ctx) is None
