"""Finding work: `magnet task list --open` lists the tasks a contributor can join now."""

from __future__ import annotations

import json
import tomllib

from magnet_market.app import Session
from magnet_market.app.market_view import MarketView
from magnet_market.cli import main
from magnet_market.storage import LocalStore
from magnet_market.tasks.spec import parse_spec
from tests.chain.helpers import BOND, ETHER, TIMING, advance_time
from tests.tasks.test_spec import SPEC_TOML

DIGITS = {"name": "d", "kind": "digits", "rounds": 1, "inner_steps": 5, "market": {"bounty": 1}}


def _open_ids(view: MarketView, kind: str | None = None, min_round_budget: int = 0) -> list[int]:
    return [row.task_id for row in view.find_tasks(kind, min_round_budget, open_only=True)]


def test_open_tasks_are_the_joinable_ones_richest_round_first(
    market, actors, runner, devnet_network, tmp_path
):
    store = LocalStore(tmp_path / "store")
    tinylm = str(store.add_bytes(parse_spec(tomllib.loads(SPEC_TOML)).canonical_json()))
    digits = str(store.add_bytes(parse_spec(DIGITS).canonical_json()))
    sponsor = market.with_signer(actors.sponsor)
    coordinator = actors.coordinator.address

    def create(cid: str, rounds: int, bounty: int, seats: int) -> int:
        task_id, _ = sponsor.create_task(
            cid, coordinator, rounds, bounty, BOND, seats, TIMING, None, None
        )
        return task_id

    two_rounds = create(tinylm, rounds=2, bounty=3 * ETHER, seats=5)  # 1.5 ether a round
    one_round = create(digits, rounds=1, bounty=ETHER, seats=5)
    full = create(digits, rounds=1, bounty=5 * ETHER, seats=1)
    market.with_signer(actors.contributors[0]).claim(full)
    unknown = create("bafkreinotinthestore", rounds=1, bounty=ETHER // 2, seats=5)

    view = MarketView(Session.of_market(market, store))
    assert _open_ids(view) == [two_rounds, one_round, unknown]
    assert _open_ids(view, kind="digits") == [one_round]  # the full one is not open
    assert _open_ids(view, min_round_budget=ETHER + 1) == [two_rounds]
    assert _open_ids(view, kind="text") == []

    env = {"MAGNET_MARKET_ADDRESS": market.address}
    args = ["task", "list", "--open", "--store", str(tmp_path / "store"), "--json"]
    listed = runner.invoke(main, [*args, "--min-reward-per-round", "0.6ether"], env=env)
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [(r["task_id"], r["kind"], r["round_budget"]) for r in rows] == [
        (two_rounds, "tinylm", 3 * ETHER // 2),
        (one_round, "digits", ETHER),
    ]
    table = runner.invoke(main, [*args[:-1], "--kind", "digits"], env=env)
    assert table.exit_code == 0 and "open tasks" in table.stdout and "d (digits)" in table.stdout
    bad = runner.invoke(main, [*args, "--kind", "imagenet"], env=env)
    assert bad.exit_code == 2 and "imagenet" in bad.output

    # once the submit window closes, a one-round task has nothing left to join for; the
    # two-round one still has its second round
    advance_time(market, TIMING.submit + 1)
    assert _open_ids(view) == [two_rounds]
