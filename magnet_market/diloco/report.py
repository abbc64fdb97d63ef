"""The round report: what the coordinator pins next to the merged checkpoint.

A plain dataclass tree turned into JSON deterministically (sorted keys, fixed indent), so the
same round gives the same bytes and the same CID. Amounts in wei are written as decimal strings
(``"credit_wei": "1000000000000000000"``): JSON readers in JavaScript would round integers above
2**53. Anyone can rebuild the credits from this file (``credit.largest_remainder``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from magnet_market.diloco.guard import MergeAttempt
from magnet_market.diloco.ideas import IdeaCredit
from magnet_market.diloco.published import PublishedSearch, Recipe
from magnet_market.diloco.verify import Check, Verdict


@dataclass(frozen=True)
class SubmissionReport:
    """One submission's line in the report."""

    cid: str
    author: str
    status: str  # "accepted" | "rejected" | "dishonest" (rejected and slashable)
    checks: tuple[Check, ...]
    claimed: float | None
    measured: float | None
    improvement: float | None
    update_norm: float | None
    steps: int | None
    work: int | None
    weight: float  # share in the merge; 0 when not merged
    credit_wei: int
    # on the sealed holdout slice the round is credited on (accepted submissions only)
    holdout_metric: float | None = None
    holdout_improvement: float | None = None
    # what an accepted contribution published about its search (``published.py``): the
    # recipe, the changes its own search made to reach it, and its experiment ledger
    recipe: Recipe | None = None
    recipe_changes: Recipe | None = None
    ledger_cid: str | None = None

    @classmethod
    def of(
        cls,
        verdict: Verdict,
        weight: float,
        credit_wei: int,
        holdout: tuple[float, float] | None = None,
    ) -> SubmissionReport:
        status = (
            "accepted" if verdict.accepted else "dishonest" if verdict.dishonest else "rejected"
        )
        search = verdict.search if verdict.accepted else PublishedSearch()
        return cls(
            cid=verdict.cid,
            author=verdict.author,
            status=status,
            checks=verdict.checks,
            claimed=verdict.claimed,
            measured=verdict.measured,
            improvement=verdict.improvement,
            update_norm=verdict.update_norm,
            steps=verdict.steps,
            work=verdict.work,
            weight=weight,
            credit_wei=credit_wei,
            holdout_metric=holdout[0] if holdout else None,
            holdout_improvement=holdout[1] if holdout else None,
            recipe=search.recipe,
            recipe_changes=search.changes,
            ledger_cid=search.ledger_cid,
        )


@dataclass(frozen=True)
class RoundReport:
    """Everything needed to re-check a round: inputs, verdicts, merge, credits, settings."""

    task_id: int
    round: int
    metric: str
    parent_cid: str
    parent_metric: float
    merged_cid: str  # set by the coordinator once the merged file is stored ("" if no merge)
    merged_metric: float | None
    reward_wei: int
    credited_wei: int  # == reward_wei when any submission earned credit, else 0
    submissions: tuple[SubmissionReport, ...]
    config: dict = field(default_factory=dict)  # the RoundConfig used, as plain JSON values
    # What credits and merge weights were measured on: "val" (the public validation split, which
    # also checks every claim) or "holdout:R" (slice R of the sponsor's sealed holdout).
    credited_on: str = "val"
    holdout_parent_metric: float | None = None
    holdout_merged_metric: float | None = None
    # the sponsor's bond for this round, in ``reward_wei``, when it missed its key's window
    holdout_forfeit_wei: int = 0
    # the recipe the next round's search starts from: the published recipe of the accepted
    # contribution that improved most on the split credited on (None: no accepted contribution
    # improved and published one)
    recipe: Recipe | None = None
    recipe_author: str | None = None
    # earlier rounds' ideas the accepted work adopted, and their share of ``reward_wei``
    ideas: tuple[IdeaCredit, ...] = ()
    # the merge step kept ("outer", "average" or "best"; None: nothing merged) and every step
    # the merge guard measured on the way (``guard.py``)
    merge_step: str | None = None
    merge_attempts: tuple[MergeAttempt, ...] = ()
    # the rule the work's credits were scored by ("improvement" or "leave_one_out"; None:
    # nothing credited): ``config["credit"]`` names the task's, which may fall back (credit.py)
    credited_by: str | None = None

    def credits(self) -> dict[str, int]:
        """Wei per account: its contribution's credit plus its ideas' (the Merkle tree's)."""
        out: dict[str, int] = {}
        for who, wei in [(s.author, s.credit_wei) for s in self.submissions] + [
            (i.author, i.credit_wei) for i in self.ideas
        ]:
            out[who] = out.get(who, 0) + wei
        return out

    def to_json(self) -> str:
        """Deterministic JSON text (same report, same bytes)."""
        return json.dumps(_wei_as_strings(asdict(self)), sort_keys=True, indent=1) + "\n"


def _wei_as_strings(value: object) -> object:
    if isinstance(value, dict):
        return {k: str(v) if k.endswith("_wei") else _wei_as_strings(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_wei_as_strings(v) for v in value]
    return value
