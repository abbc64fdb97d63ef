"""Gas targets of issue 3, on a real anvil (the 1,000-contributor run is benchmarks/gas.py)."""

from __future__ import annotations

from benchmarks.gas import TARGETS, measure


def test_gas_targets_hold_and_posting_does_not_grow_with_contributors():
    figures = measure(contributors=30, leaves=1000)
    for action in ("claim", "commit", "reveal", "postRound_10"):
        assert figures[action] <= TARGETS[action], (action, figures[action])
    assert figures["claimReward_1000"] <= TARGETS["claimReward_1000"]
    # postRound's cost is independent of how many contributed (a Merkle root, no loop).
    assert abs(figures["postRound_30"] - figures["postRound_10"]) < 100
