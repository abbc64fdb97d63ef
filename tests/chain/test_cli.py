"""The chain commands of `magnet`, end to end through click against a real anvil."""

from __future__ import annotations

import json
from dataclasses import asdict

import click
import pytest

from magnet_market.chain.accounts import devnet_account
from magnet_market.chain.client import MarketClient
from magnet_market.chain.connection import Connection
from magnet_market.chain.deploy import find_deployment
from magnet_market.chain.devnet import free_port
from magnet_market.chain.types import (
    DEVNET_RULES,
    MarketRules,
    SlashReason,
    slashes_digest,
)
from magnet_market.cli import main
from magnet_market.cli._common import BYTES32, SLASH, WEI, format_ether
from magnet_market.storage import cid_of_bytes
from tests.chain.helpers import TIMING, advance_time, reveal, submit

#: A task created by CID names a spec pinned earlier: any well-formed CID will do here.
SPEC_CID = str(cid_of_bytes(b"a task spec pinned earlier"))
#: The claim bond of the tasks these tests create (it is also every dispute's bond).
BOND = 10**16
#: The devnet account that sits on the validator panel (no actor of tests/conftest.py uses it).
VALIDATOR = 15


def run(runner, *args, ok=True, **kwargs):
    result = runner.invoke(main, [str(a) for a in args], catch_exceptions=False, **kwargs)
    if ok:
        assert result.exit_code == 0, result.output
    return result


@pytest.mark.parametrize(
    ("text", "wei"),
    [("3ether", 3 * 10**18), ("0.5 ETH", 5 * 10**17), ("20gwei", 2 * 10**10), ("1000", 1000)],
)
def test_amounts_parse_exactly(text, wei):
    assert WEI.convert(text, None, None) == wei
    assert format_ether(3 * 10**18 + 1) == "3.000000000000000001 ETH"


def test_bad_amounts_are_usage_errors():
    for bad in ("abc", "0.5wei", "-1"):
        with pytest.raises(click.BadParameter):
            WEI.convert(bad, None, None)


def _create_task(runner, actors, bounty="2ether", rounds=1) -> int:
    """A task created by the sponsor (devnet:1) through the CLI, coordinated by devnet:2."""
    created = run(
        runner,
        "task", "create", "--json", "--account", "devnet:1",
        "--spec-cid", SPEC_CID, "--bounty", bounty, "--rounds", rounds,
        "--coordinator", actors.coordinator.address, "--bond", BOND,
        "--submit-seconds", TIMING.submit, "--challenge-seconds", TIMING.challenge,
    )  # fmt: skip
    return json.loads(created.stdout)["task_id"]


def _credits_file(tmp_path, credits: dict[str, int]):
    path = tmp_path / "credits.json"
    path.write_text(json.dumps(credits))
    return path


def _post(runner, task_id, credits, *extra, ok=True):
    return run(
        runner, "round", "post", task_id, "--account", "devnet:2", "--merged-cid", "bafymerged",
        "--report-cid", "bafyreport", "--credits", credits, *extra, ok=ok,
    )  # fmt: skip


def _market(devnet_network, deployed) -> MarketClient:
    return MarketClient(Connection(devnet_network), deployed["address"])


def test_a_round_through_the_cli(runner, devnet_network, actors, tmp_path):
    deployed = json.loads(run(runner, "deploy", "--json").stdout)
    conn = Connection(devnet_network)
    assert find_deployment(conn).address == deployed["address"]
    created = run(
        runner,
        "task", "create", "--json", "--account", "devnet:1",
        "--spec-cid", SPEC_CID, "--bounty", "2ether", "--rounds", "1",
        "--coordinator", actors.coordinator.address, "--bond", "0.01ether",
        "--submit-seconds", TIMING.submit, "--challenge-seconds", TIMING.challenge,
    )  # fmt: skip
    task = json.loads(created.stdout)
    assert (task["task_id"], task["escrow"], task["status"]) == (1, 2 * 10**18, "open")
    run(runner, "task", "fund", 1, "1ether", "--account", "devnet:3")
    alice = "devnet:5"
    run(runner, "claim", 1, "--account", alice)
    submit = ["submit", 1, "--cid", "bafyalice", "--metric", "1.25", "--account", alice, "--json"]
    submitted = json.loads(run(runner, *submit).stdout)
    assert submitted["claimed_metric"] == 125 * 10**16 and submitted["revealed_now"]
    again = json.loads(run(runner, *submit).stdout)
    assert not again["committed_now"] and not again["revealed_now"]  # idempotent
    credits = tmp_path / "credits.json"
    credits.write_text(json.dumps({actors.contributors[0].address: 10**18}))
    tree = tmp_path / "tree.json"
    refused = _post(runner, 1, credits, ok=False)  # no stake yet
    assert refused.exit_code == 1 and "CoordinatorStakeTooLow" in refused.output
    run(runner, "coordinator", "stake", 1, "--account", "devnet:2")
    _post(runner, 1, credits, "--tree-out", tree)
    client = MarketClient(conn, deployed["address"])
    advance_time(client, TIMING.challenge)
    before = client.w3.eth.get_balance(actors.contributors[0].address)
    claimed = run(runner, "reward", "claim", 1, 0, "--tree", tree, "--account", alice)
    assert "paid to you" in claimed.output
    gained = client.w3.eth.get_balance(actors.contributors[0].address) - before
    assert 10**18 - 10**15 < gained < 10**18  # the reward, less the claim's gas
    assert client.withdrawable(actors.contributors[0].address) == 0  # paid, not booked
    nothing = runner.invoke(main, ["withdraw", "--yes", "--account", alice])
    assert nothing.exit_code == 1 and "nothing to withdraw" in nothing.output
    shown = json.loads(run(runner, "task", "show", 1, "--json").stdout)
    assert shown["round_states"][0]["phase"] == "final"
    assert shown["round_states"][0]["claimed_total"] == 10**18
    assert shown["round_states"][0]["dispute"] is None
    assert shown["round_states"][0]["slashed_total"] == 0
    assert "challenger" not in shown["round_states"][0]
    assert shown["coordinator_stake"] == 3 * 10**18 * DEVNET_RULES.coordinator_stake_bps // 10_000
    listed = run(runner, "task", "list")
    assert SPEC_CID in listed.stdout
    verified = json.loads(run(runner, "payouts", "verify", 1, "--no-reports", "--json").stdout)
    assert verified["ok"] is True
    assert {c["name"] for c in verified["checks"]} >= {"escrow", "reserved credits", "bonds held"}
    table = run(runner, "payouts", "verify", 1, "--no-reports")
    assert "payouts verified" in table.stdout


def test_reverts_and_missing_deployments_are_clean_errors(runner, devnet_network, monkeypatch):
    missing = run(runner, "task", "show", 1, ok=False)
    assert missing.exit_code == 1
    assert "DeploymentNotFoundError" in missing.output and "magnet deploy" in missing.output
    run(runner, "deploy")
    unknown = run(runner, "task", "show", 7, ok=False)
    assert unknown.exit_code == 1 and "TaskNotFound(taskId=7)" in unknown.output
    assert "Traceback" not in unknown.output
    monkeypatch.setenv("MAGNET_DEVNET_URL", f"http://127.0.0.1:{free_port()}")
    down = run(runner, "task", "list", ok=False)
    assert down.exit_code == 1 and "RPCUnavailableError" in down.output


def test_account_commands_never_print_keys(runner):
    key = "0x" + "cd" * 32  # a throwaway key made up for this test
    imported = run(runner, "account", "import", "ops", input=f"{key}\npw\npw\n")
    assert key[2:] not in imported.stdout
    listed = json.loads(run(runner, "account", "list", "--json").stdout)
    assert listed[0]["name"] == "ops" and listed[0]["address"] in imported.stdout


def test_deploy_takes_the_market_rules(runner, devnet_network):
    rules = MarketRules(
        claim_window=3600,
        vote_duration=120,
        validator_stake=5 * 10**17,
        quorum=2,
        coordinator_stake_bps=2_500,
    )
    deployed = json.loads(
        run(
            runner, "deploy", "--json", "--claim-window", 3600, "--vote-seconds", 120,
            "--validator-stake", "0.5ether", "--quorum", 2, "--coordinator-stake-bps", 2500,
            "--min-challenge", 60,
        ).stdout
    )  # fmt: skip
    assert deployed["rules"] == asdict(rules)
    assert _market(devnet_network, deployed).rules() == rules
    shown = json.loads(run(runner, "market", "show", "--json").stdout)
    assert shown["address"] == deployed["address"] and shown["owner"] == deployed["owner"]
    assert shown["rules"] == asdict(rules) and shown["floors"]["challenge"] == 60
    assert shown["paused"] is False and shown["validators"] == 0 and shown["tasks"] == 0
    table = run(runner, "market", "show").stdout
    assert "quorum 2" in table and "coordinator stake 25 %" in table
    defaults = json.loads(run(runner, "deploy", "--json", "--quorum", 3).stdout)
    assert defaults["rules"] == {**asdict(DEVNET_RULES), "quorum": 3}  # the rest: the devnet's
    for option, value in (("--coordinator-stake-bps", 20_000), ("--quorum", 0)):
        bad = run(runner, "deploy", option, value, ok=False)
        assert bad.exit_code == 2 and option in bad.output, bad.output


def test_the_owner_pauses_and_unpauses(runner, devnet_network):
    run(runner, "deploy")
    stranger = run(runner, "market", "pause", "--yes", "--account", "devnet:3", ok=False)
    assert stranger.exit_code == 1 and "OwnableUnauthorizedAccount" in stranger.output
    run(runner, "market", "pause", "--yes")
    assert json.loads(run(runner, "market", "show", "--json").stdout)["paused"] is True
    again = run(runner, "market", "pause", "--yes", ok=False)
    assert again.exit_code == 1 and "MarketIsPaused" in again.output
    run(runner, "market", "unpause")
    assert json.loads(run(runner, "market", "show", "--json").stdout)["paused"] is False
    idle = run(runner, "market", "unpause", ok=False)
    assert idle.exit_code == 1 and "MarketNotPaused" in idle.output


def test_validators_stake_show_and_unstake(runner, devnet_network):
    deployed = json.loads(run(runner, "deploy", "--json").stdout)
    market = _market(devnet_network, deployed)
    who = devnet_account(VALIDATOR).address
    before = json.loads(run(runner, "validator", "show", who, "--json").stdout)
    assert before["staked"] is False and before["required_stake"] == DEVNET_RULES.validator_stake
    staked = json.loads(
        run(
            runner, "validator", "stake", "--yes", "--json", "--account", f"devnet:{VALIDATOR}"
        ).stdout
    )
    assert staked["address"] == who and staked["staked"] is True
    assert staked["stake"] == DEVNET_RULES.validator_stake == market.validator(who)[0]
    assert staked["since"] == market.validator(who)[1] > 0
    assert (staked["panel_size"], staked["panel_stake"]) == (1, DEVNET_RULES.validator_stake)
    twice = run(runner, "validator", "stake", "--yes", "--account", f"devnet:{VALIDATOR}", ok=False)
    assert twice.exit_code == 1 and "ValidatorAlreadyStaked" in twice.output
    mine = run(runner, "validator", "show", "--account", f"devnet:{VALIDATOR}").stdout
    assert who in mine and "staked 0.01 ETH" in mine and "1 validators" in mine
    summary = json.loads(run(runner, "market", "show", "--json").stdout)
    assert (summary["validators"], summary["validator_stake_total"]) == (1, 10**16)
    bad = run(runner, "validator", "show", "0x1234", ok=False)
    assert bad.exit_code == 1 and "not an Ethereum address" in bad.output
    run(runner, "validator", "unstake", "--account", f"devnet:{VALIDATOR}")
    assert market.withdrawable(who) == DEVNET_RULES.validator_stake
    after = json.loads(run(runner, "validator", "show", who, "--json").stdout)
    assert after["staked"] is False and after["panel_size"] == 0


def test_the_coordinator_stakes_then_takes_the_stake_back(runner, devnet_network, actors, tmp_path):
    deployed = json.loads(run(runner, "deploy", "--json").stdout)
    market = _market(devnet_network, deployed)
    task_id = _create_task(runner, actors, bounty="2ether")
    needed = 2 * 10**18 * DEVNET_RULES.coordinator_stake_bps // 10_000
    shown = json.loads(run(runner, "task", "show", task_id, "--json").stdout)
    assert (shown["coordinator_stake"], shown["stake_needed"]) == (0, needed)
    stranger = run(runner, "coordinator", "stake", task_id, "0.1ether", "--account", "devnet:3",
                   ok=False)  # fmt: skip
    assert stranger.exit_code == 1 and "TaskNotCoordinator" in stranger.output
    part = run(runner, "coordinator", "stake", task_id, "0.05ether", "--account", "devnet:2")
    assert "needs 0.2 ETH" in part.output
    assert market.task(task_id).coordinator_stake == 5 * 10**16
    run(runner, "coordinator", "stake", task_id, "--account", "devnet:2")  # the rest
    assert market.task(task_id).coordinator_stake == needed
    covered = run(runner, "coordinator", "stake", task_id, "--account", "devnet:2")
    assert "already covers" in covered.output
    table = run(runner, "task", "show", task_id).stdout
    assert "coordinator stake" in table and "0.2 ETH" in table
    early = run(runner, "coordinator", "release-stake", task_id, "--account", "devnet:2", ok=False)
    assert early.exit_code == 1 and "TaskNotClosed" in early.output
    alice = actors.contributors[0]
    run(runner, "claim", task_id, "--account", "devnet:5")
    run(runner, "submit", task_id, "--cid", "bafyalice", "--metric", "1", "--account", "devnet:5")
    _post(runner, task_id, _credits_file(tmp_path, {alice.address: 10**17}))
    advance_time(market, TIMING.challenge)
    run(runner, "task", "close", task_id, "--yes", "--account", "devnet:1")
    released = run(runner, "coordinator", "release-stake", task_id, "--account", "devnet:2")
    assert "stake of 0.2 ETH" in released.output
    assert market.task(task_id).coordinator_stake == 0
    assert market.withdrawable(actors.coordinator.address) == needed


def test_round_post_carries_slashes(runner, devnet_network, actors, tmp_path):
    deployed = json.loads(run(runner, "deploy", "--json").stdout)
    market = _market(devnet_network, deployed)
    task_id = _create_task(runner, actors)
    alice, sleeper = actors.contributors[0], actors.contributors[1]
    run(runner, "claim", task_id, "--account", "devnet:5")
    run(runner, "claim", task_id, "--account", "devnet:6")
    salt = submit(market, task_id, alice, "bafyalice", 1)  # the sleeper never commits
    advance_time(market, TIMING.submit)
    reveal(market, task_id, alice, "bafyalice", 1, salt)
    run(runner, "coordinator", "stake", task_id, "--account", "devnet:2")
    credits = _credits_file(tmp_path, {alice.address: 10**17})
    unjust = _post(runner, task_id, credits, "--slash", f"{alice.address}:timeout", ok=False)
    assert unjust.exit_code == 1 and "SlashNotJustified" in unjust.output  # alice revealed
    posted = _post(runner, task_id, credits, "--slash", f"{sleeper.address}:timeout")
    assert "1 slashed" in posted.output
    slashed = BOND * 1_000 // 10_000  # the default timeout rate, 10 %
    shown = json.loads(run(runner, "task", "show", task_id, "--json").stdout)
    (state,) = shown["round_states"]
    assert state["slashed_total"] == slashed == shown["slashes_pending"]
    digest = slashes_digest([(sleeper.address, SlashReason.TIMEOUT)])
    assert state["slashes_digest"] == "0x" + digest.hex()
    assert market.round(task_id, 0).slashes_digest == digest
    assert [(s["contributor"], s["reason"], s["amount"]) for s in shown["slashes"]] == [
        (sleeper.address, "timeout", slashed)
    ]
    table = run(runner, "task", "show", task_id).stdout
    assert "timeout" in table and "0x" + digest.hex() in table
    assert "slashes pending" in table


def test_a_bad_slash_or_ballot_is_refused_before_anything_is_sent(runner, tmp_path):
    """No chain here: these fail while the command line is parsed."""
    who = devnet_account(6).address
    credits = _credits_file(tmp_path, {})
    cases = {
        f"{who}:lazy": "'lazy' is not a slash reason; use one of timeout, dishonest_claim, "
        "bad_verification",
        "0x1234:timeout": "not an Ethereum address",
        who: "is not ADDRESS:REASON",
    }
    for value, message in cases.items():
        refused = _post(runner, 1, credits, "--slash", value, ok=False)
        assert refused.exit_code == 2, refused.output
        assert "Invalid value for '--slash'" in refused.output and message in refused.output
    assert SLASH.convert(f"{who.lower()}:Dishonest-Claim", None, None) == (
        who,
        SlashReason.DISHONEST_CLAIM,
    )
    ballots = {
        ("--posted", "--total", "1"): "--posted votes for the posted result: drop --total",
        ("--credits-root", "0x12"): "is not 32 bytes of hex",
        ("--total", "1"): "missing --credits-root, --report-cid",
    }
    for args, message in ballots.items():
        refused = run(runner, "round", "vote", 1, 0, "--yes", *args, ok=False)
        assert refused.exit_code == 2 and message in refused.output, refused.output
    assert BYTES32.convert("0x" + "ab" * 32, None, None) == bytes.fromhex("ab" * 32)


def test_a_dispute_through_the_cli(runner, devnet_network, actors, tmp_path):
    """Challenge, join, vote for the posted result, resolve, book the payouts, then let the
    round's unclaimed credits expire."""
    deployed = json.loads(run(runner, "deploy", "--json").stdout)
    market = _market(devnet_network, deployed)
    validator = devnet_account(VALIDATOR)
    run(runner, "validator", "stake", "--yes", "--account", f"devnet:{VALIDATOR}")
    advance_time(market, 1)  # votes count only in disputes opened after the stake
    task_id = _create_task(runner, actors)
    alice = actors.contributors[0]
    run(runner, "claim", task_id, "--account", "devnet:5")
    run(runner, "submit", task_id, "--cid", "bafyalice", "--metric", "1", "--account", "devnet:5")
    run(runner, "coordinator", "stake", task_id, "--account", "devnet:2")
    _post(runner, task_id, _credits_file(tmp_path, {alice.address: 10**17}))
    never = json.loads(run(runner, "round", "dispute", task_id, 0, "--json").stdout)
    assert never == {"task_id": task_id, "round": 0, "outcome": "none"}
    challenge = ["round", "challenge", task_id, 0, "--reason", "bafyevidence", "--yes", "--json"]
    opened = json.loads(run(runner, *challenge, "--account", "devnet:4").stdout)
    assert opened["outcome"] == "open" and opened["challengers"] == [actors.challenger.address]
    assert opened["bond"] == BOND and opened["deadline"]["label"] == "vote closes"
    joined = json.loads(run(runner, *challenge, "--account", "devnet:3").stdout)
    assert joined["challengers"] == [actors.challenger.address, actors.funder.address]
    again = run(runner, *challenge, "--account", "devnet:3", ok=False)
    assert again.exit_code == 1 and "DisputeAlreadyJoined" in again.output
    early = run(runner, "round", "resolve", task_id, 0, ok=False)
    assert early.exit_code == 1 and "DisputeVoteRunning" in early.output
    run(
        runner, "round", "vote", task_id, 0, "--posted", "--yes", "--account", f"devnet:{VALIDATOR}"
    )
    tally = json.loads(run(runner, "round", "dispute", task_id, 0, "--json").stdout)
    assert (tally["votes"], tally["leader_votes"], tally["voters"]) == (1, 1, [validator.address])
    assert tally["leader"] == tally["posted_candidate"]
    (candidate,) = tally["candidates"]
    assert candidate["posted"] and candidate["votes"] == 1
    assert candidate["report_cid"] == "bafyreport" and candidate["total_credited"] == 10**17
    advance_time(market, DEVNET_RULES.vote_duration)
    decided = json.loads(
        run(runner, "round", "resolve", task_id, 0, "--json", "--account", "devnet:7").stdout
    )  # anyone may decide
    assert decided["outcome"] == "posted_held" and decided["deadline"] is None
    assert decided["payout_per_winner"] == 2 * BOND  # both challengers' bonds, one winner
    run(runner, "round", "payout", task_id, 0, "--account", f"devnet:{VALIDATOR}")
    assert market.withdrawable(validator.address) == 3 * BOND
    lost = run(runner, "round", "payout", task_id, 0, "--account", "devnet:4", ok=False)
    assert lost.exit_code == 1 and "owes" in lost.output and "nothing" in lost.output
    table = run(runner, "round", "dispute", task_id, 0).stdout
    assert "posted result held" in table and actors.funder.address in table
    shown = json.loads(run(runner, "task", "show", task_id, "--json").stdout)
    (state,) = shown["round_states"]
    assert state["phase"] == "final" and state["dispute"]["outcome"] == "posted_held"
    assert shown["open_disputes"] == 0
    assert "posted_held (2 challenged, 1 voted)" in run(runner, "task", "show", task_id).stdout
    votes = json.loads(run(runner, "validator", "show", validator.address, "--json").stdout)
    assert [(v["task_id"], v["for_posted"], v["outcome"]) for v in votes["votes"]] == [
        (task_id, True, "posted_held")
    ]
    verified = json.loads(
        run(runner, "payouts", "verify", task_id, "--no-reports", "--json").stdout
    )
    assert verified["ok"] is True, verified
    verified = run(runner, "payouts", "verify", task_id, "--no-reports", "--json").stdout
    assert json.loads(verified)["ok"] is True, verified
    window_open = run(runner, "round", "expire", task_id, 0, ok=False)
    assert window_open.exit_code == 1 and "RewardClaimWindowOpen" in window_open.output
    escrow = market.task(task_id).escrow
    advance_time(market, DEVNET_RULES.claim_window)
    expired = run(runner, "round", "expire", task_id, 0)
    assert "0.1 ETH of unclaimed credits" in expired.output
    assert market.task(task_id).escrow == escrow + 10**17
    assert market.round(task_id, 0).claimed_total == 10**17  # nothing left to claim
