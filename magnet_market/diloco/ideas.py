"""Credit for ideas: part of a round's reward for the contributors whose published changes the
round's accepted contributions trained with.

An idea is the changes one contributor's search made to reach its recipe in an earlier round
(``recipe_changes`` in that round's report), credited to whoever published those exact changes
first. A contribution adopted an idea when its recipe sets every knob of the idea to the idea's
value, and the idea is not its author's own. Each contribution's measured improvement (on the
split the round is credited on) is attributed in equal parts to the ideas it adopted; an idea
scores the sum of what it was attributed, and the round's idea share (``idea_share_bps`` of the
reward) is split by score with the same largest-remainder rule as the contributions' credit.
When no adopted idea scored, there is no idea share: the whole reward goes to the contributions.

Only a contributor that revealed in the round can claim in it (the contract's rule), so an idea
whose author did not take part in the round is left out of its pool.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from magnet_market.diloco.credit import largest_remainder
from magnet_market.diloco.published import Recipe

MAX_IDEA_SHARE_BPS = 5_000  # at most half of a round: the work itself earns the rest


@dataclass(frozen=True)
class Idea:
    """Changes a contributor's search published in an earlier round."""

    author: str
    round: int
    changes: Recipe


@dataclass(frozen=True)
class IdeaCredit:
    """One idea's line in the report: who adopted it, its score and its credit."""

    author: str
    round: int
    changes: Recipe
    adopted_by: tuple[str, ...]
    score: float
    credit_wei: int


def first_published(ideas: Sequence[Idea]) -> list[Idea]:
    """Each distinct idea once, credited to its first publisher (earliest round, then the
    order given: the reports' order)."""
    out: dict[str, Idea] = {}
    for idea in sorted(ideas, key=lambda i: i.round):
        key = repr(sorted(idea.changes.items()))
        if idea.changes and key not in out:
            out[key] = idea
    return list(out.values())


def adopts(recipe: Mapping[str, object] | None, author: str, idea: Idea) -> bool:
    """``recipe`` (of ``author``'s contribution) trains with ``idea`` of somebody else."""
    if recipe is None or idea.author.lower() == author.lower():
        return False
    return all(
        k in recipe and recipe[k] == v and type(recipe[k]) is type(v)
        for k, v in idea.changes.items()
    )


def credit_ideas(
    ideas: Sequence[Idea],
    adopters: Sequence[tuple[str, Recipe | None, float]],
    pool_wei: int,
) -> list[IdeaCredit]:
    """Split ``pool_wei`` among ``ideas`` by the improvement of the contributions that adopted
    them (``adopters``: author, recipe, improvement of each accepted contribution)."""
    scores = [0.0] * len(ideas)
    adopted_by: list[list[str]] = [[] for _ in ideas]
    for author, recipe, gain in adopters:
        taken = [i for i, idea in enumerate(ideas) if adopts(recipe, author, idea)]
        for i in taken:
            adopted_by[i].append(author)
            scores[i] += max(0.0, gain) / len(taken)
    credits = largest_remainder(scores, pool_wei)
    return [
        IdeaCredit(idea.author, idea.round, idea.changes, tuple(by), score, credit)
        for idea, by, score, credit in zip(ideas, adopted_by, scores, credits, strict=True)
    ]
