"""One coordinator round, end to end: verify, weigh, merge, evaluate, credit, report.

This is the function the coordinator role calls after fetching every revealed CID to a file
(the CID already recomputed from the bytes). It writes the merged checkpoint and returns the
report; storing the file, filling ``merged_cid`` and posting on chain are the role's job.

Every checkpoint is streamed from its file one tensor at a time (``_reader.TensorFile``), so
beyond the model being evaluated the round holds about one tensor per open file.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from magnet_market.bitnet.model import ModelConfig, build_model
from magnet_market.diloco._reader import TensorFile, load_into
from magnet_market.diloco.aggregate import AggregationConfig
from magnet_market.diloco.credit import (
    CREDIT_RULES,
    largest_remainder,
    leave_one_out_scores,
)
from magnet_market.diloco.guard import (
    MergeAttempt,
    MergeStep,
    gains,
    guarded_merge,
    merge_steps,
)
from magnet_market.diloco.ideas import MAX_IDEA_SHARE_BPS, Idea, IdeaCredit, credit_ideas
from magnet_market.diloco.outer import OuterConfig
from magnet_market.diloco.report import RoundReport, SubmissionReport
from magnet_market.diloco.verify import (
    Evaluate,
    RoundParent,
    Submission,
    Verdict,
    VerifyRules,
    judged_metrics,
    verify,
)
from magnet_market.diloco.weights import WEIGHTINGS, merge_weights


@dataclass(frozen=True)
class RoundConfig:
    """The rules of a round (from the task spec); recorded in the report."""

    rules: VerifyRules = field(default_factory=VerifyRules)
    outer: OuterConfig = field(default_factory=OuterConfig)
    aggregation: AggregationConfig = field(default_factory=AggregationConfig)
    weighting: str = "work"  # "equal" | "work" | "improvement"
    credit: str = "improvement"  # one of credit.CREDIT_RULES
    idea_share_bps: int = 0  # of the reward for the ideas the accepted work adopted (ideas.py)
    guard: bool = True  # fall back from an outer step worse than the best it merged (guard.py)

    def __post_init__(self) -> None:
        if not 0 <= self.idea_share_bps <= MAX_IDEA_SHARE_BPS:
            raise ValueError(
                f"idea_share_bps must be in 0..{MAX_IDEA_SHARE_BPS}, got {self.idea_share_bps}"
            )
        if self.weighting not in WEIGHTINGS:
            raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {self.weighting!r}")
        if self.credit not in CREDIT_RULES:
            raise ValueError(f"credit must be one of {CREDIT_RULES}, got {self.credit!r}")


@dataclass(frozen=True)
class CreditSplit:
    """Data a round is credited on apart from the validation split that checks claims: a slice
    of the sponsor's sealed holdout, which no contributor could search on."""

    name: str  # recorded in the report, e.g. "holdout:0"
    evaluate: Evaluate


@dataclass(frozen=True)
class RoundOutcome:
    """The report and the merged file (``None`` when nothing was accepted: parent stays)."""

    report: RoundReport
    merged_path: Path | None


def run_round(
    *,
    task_id: int,
    round_index: int,
    parent_path: str | Path,
    parent_cid: str,
    model_config: ModelConfig,
    submissions: Sequence[Submission],
    evaluate: Evaluate,
    reward_wei: int,
    out: str | Path,
    config: RoundConfig | None = None,
    credit_split: CreditSplit | None = None,
    ideas: Sequence[Idea] = (),
) -> RoundOutcome:
    """Verify every submission, merge the accepted ones into ``out`` and credit them.

    Args:
        task_id, round_index: recorded in the report.
        parent_path, parent_cid: the round's parent checkpoint and its CID.
        model_config: the task's model config (submissions must match it exactly).
        submissions: revealed submissions, fetched to files.
        evaluate: the task's evaluation on the coordinator's held-out split.
        reward_wei: this round's reward; credits sum to it exactly (or to 0 if nobody earned).
        out: where the merged checkpoint is written.
        config: the round's rules; defaults documented in docs/diloco.md.
        credit_split: when given, merge weights and credits are measured on it (every check,
            claims included, stays on ``evaluate``); else on ``evaluate``.
        ideas: changes published in earlier rounds, each by its first publisher
            (``ideas.first_published``); the ones the accepted work adopted share
            ``config.idea_share_bps`` of the reward (``ideas.py``).
    """
    cfg = config or RoundConfig()
    metric = cfg.rules.metric
    parent = RoundParent.measure(parent_path, parent_cid, model_config, evaluate, metric)
    verdicts = [verify(s, parent, evaluate, cfg.rules) for s in submissions]
    accepted = [i for i, v in enumerate(verdicts) if v.accepted]
    credit_eval = credit_split.evaluate if credit_split else evaluate

    def measure(path: str | Path) -> float:
        return _evaluate_file(Path(path), model_config, credit_eval)[metric.name]

    credit_parent = measure(parent_path) if credit_split else parent.metric
    held: dict[int, tuple[float, float]] = {}  # accepted index → (holdout metric, improvement)
    judged = list(verdicts)  # what weights and credits read: improvement on the credit split
    if credit_split:
        for i in accepted:
            measured = measure(submissions[i].path)
            held[i] = (measured, metric.improvement(credit_parent, measured))
            judged[i] = dataclasses.replace(verdicts[i], improvement=held[i][1])
    weights = [0.0] * len(verdicts)
    for i, w in zip(
        accepted, merge_weights([judged[i] for i in accepted], cfg.weighting), strict=True
    ):
        weights[i] = w
    merged = [i for i in accepted if weights[i] > 0]
    merged_path, merged_metric = None, None
    paths = [submissions[i].path for i in merged]
    merged_weights = [weights[i] for i in merged]
    contribution_metrics = [_measured(verdicts[i]) for i in merged]
    step: MergeStep | None = None
    attempts: tuple[MergeAttempt, ...] = ()
    if merged:
        guarded = guarded_merge(
            merge_steps(cfg.outer, cfg.guard),
            cfg.aggregation,
            parent_path,
            paths,
            merged_weights,
            contribution_metrics,
            metric=metric,
            tolerance=cfg.rules.regression_tolerance,
            evaluate=lambda path: _evaluate_file(path, model_config, evaluate)[metric.name],
            out=Path(out),
            parent_cid=parent_cid,
        )
        merged_path, merged_metric = guarded.path, guarded.metric
        step, attempts = guarded.step, guarded.attempts
    credit_merged = measure(merged_path) if credit_split and merged_path else merged_metric
    scores = [0.0] * len(verdicts)
    for i in accepted:
        scores[i] = max(0.0, judged[i].improvement or 0.0)
    merge_gain = None if credit_merged is None else metric.improvement(credit_parent, credit_merged)
    credited_by = _credit_rule(cfg.credit, scores, merge_gain)
    if credited_by == "leave_one_out":
        scores = [0.0] * len(verdicts)
        if step is not None:
            if credit_merged is None:  # set above whenever anything was merged
                raise ValueError(f"no {metric.name} was measured for the merged checkpoint")
            without = _leave_one_out_metrics(
                step,
                cfg.aggregation,
                parent_path,
                paths,
                merged_weights,
                gains(contribution_metrics, metric),
                measure,
                credit_parent,
            )
            loo = leave_one_out_scores(credit_merged, without, metric)
            for i, score in zip(merged, loo, strict=True):
                scores[i] = score
    idea_lines = _credit_ideas(judged, accepted, submissions, ideas, reward_wei, cfg)
    idea_wei = sum(line.credit_wei for line in idea_lines)
    credits = largest_remainder(scores, reward_wei - idea_wei)
    winner = _recipe_winner(judged, accepted)
    report = RoundReport(
        task_id=task_id,
        round=round_index,
        metric=metric.name,
        parent_cid=parent_cid,
        parent_metric=parent.metric,
        merged_cid="",
        merged_metric=merged_metric,
        reward_wei=reward_wei,
        credited_wei=sum(credits) + idea_wei,
        submissions=tuple(
            SubmissionReport.of(v, w, c, held.get(i))
            for i, (v, w, c) in enumerate(zip(verdicts, weights, credits, strict=True))
        ),
        config=asdict(cfg),
        credited_on=credit_split.name if credit_split else "val",
        holdout_parent_metric=credit_parent if credit_split else None,
        holdout_merged_metric=credit_merged if credit_split else None,
        recipe=None if winner is None else judged[winner].search.recipe,
        recipe_author=None if winner is None else judged[winner].author,
        ideas=tuple(idea_lines),
        merge_step=step.name if step else None,
        merge_attempts=attempts,
        credited_by=credited_by if any(credits) else None,
    )
    return RoundOutcome(report, merged_path)


def _credit_rule(rule: str, improvements: Sequence[float], merge_gain: float | None) -> str:
    """The rule a round's work is scored by: the task's, except that
    ``improvement_else_leave_one_out`` scores by leave-one-out when no contribution improved on
    the parent alone and their merge did."""
    if rule != "improvement_else_leave_one_out":
        return rule
    fall_back = not any(improvements) and merge_gain is not None and merge_gain > 0
    return "leave_one_out" if fall_back else "improvement"


def _credit_ideas(
    judged: Sequence[Verdict],
    accepted: Sequence[int],
    submissions: Sequence[Submission],
    ideas: Sequence[Idea],
    reward_wei: int,
    cfg: RoundConfig,
) -> list[IdeaCredit]:
    """The idea share of the reward, split among the ideas of the round's contributors that
    the accepted work adopted; none when no adopted idea scored (``ideas.py``)."""
    pool = reward_wei * cfg.idea_share_bps // 10_000
    if not pool:
        return []
    revealed = {s.author.lower() for s in submissions}
    eligible = [i for i in ideas if i.author.lower() in revealed]
    adopters = [
        (judged[i].author, judged[i].search.recipe, judged[i].improvement or 0.0) for i in accepted
    ]
    # scores > 0 share the whole pool (largest remainder); the others were credited nothing
    return [line for line in credit_ideas(eligible, adopters, pool) if line.score > 0]


def _recipe_winner(judged: Sequence[Verdict], accepted: Sequence[int]) -> int | None:
    """The accepted contribution with a published recipe that improved most on the credited
    split (the earliest revealed of equals), or None when none improved."""
    improved = [
        i
        for i in accepted
        if judged[i].search.recipe is not None and (judged[i].improvement or 0) > 0
    ]
    return max(improved, key=lambda i: (judged[i].improvement, -i), default=None)


def with_merged_cid(report: RoundReport, cid: str) -> RoundReport:
    """The report once the coordinator has stored the merged file and knows its CID."""
    return dataclasses.replace(report, merged_cid=cid)


def _evaluate_file(path: Path, config: ModelConfig, evaluate: Evaluate) -> dict[str, float]:
    """Evaluate a merged file, streamed into the model (no second copy of the weights)."""
    model = build_model(config)
    with TensorFile(path) as f:
        load_into(model, f)
    return judged_metrics(model, evaluate)


def _drop(items: list, j: int) -> list:
    return items[:j] + items[j + 1 :]


def _measured(verdict: Verdict) -> float:
    """An accepted verdict's measured metric (every accepted verdict has one)."""
    if verdict.measured is None:
        raise ValueError(f"accepted submission {verdict.cid} has no measured metric")
    return verdict.measured


def _leave_one_out_metrics(
    step: MergeStep,
    aggregation: AggregationConfig,
    parent_path: str | Path,
    paths: list[Path],
    weights: list[float],
    scores: list[float],
    measure: Callable[[Path], float],
    parent_metric: float,
) -> list[float]:
    """Metric of the kept step's merge without each contribution in turn (the parent's if it
    was alone)."""
    if len(paths) == 1:
        return [parent_metric]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "without.safetensors"
        return [
            measure(
                step.merge(
                    aggregation,
                    parent_path,
                    _drop(paths, j),
                    _drop(weights, j),
                    _drop(scores, j),
                    out,
                ).path
            )
            for j in range(len(paths))
        ]
