"""The dashboard's JSON API over a finished market: figures equal the chain's, errors are clear."""

from __future__ import annotations

import json
import re
import socket

from magnet_market.app import Session
from magnet_market.app.auditor import verify_reports, verify_task
from magnet_market.app.reports import load_round
from magnet_market.chain.client import MarketClient
from magnet_market.chain.connection import Connection
from magnet_market.chain.events import EventReader
from magnet_market.cli import main
from magnet_market.config import Network
from magnet_market.dashboard import create_app
from magnet_market.storage import LocalStore
from tests.dashboard._client import local_client
from tests.dashboard.conftest import DISPUTED_CREDIT

UNKNOWN = "0x000000000000000000000000000000000000dEaD"


def _reader(finished) -> EventReader:
    return EventReader(finished.client, from_block=finished.from_block)


def test_tasks_list_matches_the_contract(api, finished):
    (row,) = [t for t in api.get("/api/tasks").json() if t["task_id"] == finished.task_id]
    info = finished.client.task(finished.task_id)
    assert row["status"] == row["phase"] == "closed"
    assert (row["round"], row["rounds"]) == (2, 2)
    assert row["bounty"] == info.total_funded == 2 * 10**18
    assert (row["escrow"], row["reserved"]) == (info.escrow, info.reserved)
    assert row["spec_cid"] == info.spec_cid
    assert row["deadline"] is None
    assert (row["name"], row["kind"], row["dataset"]) == ("digits-small", "digits", None)
    page = api.get("/").text
    assert "digits-small" in page and "data bafk" not in page  # a task on built-in data


def test_task_page_names_a_guarded_merge(api, finished):
    """A round whose outer step the merge guard replaced says which step it kept."""
    reader = _reader(finished)
    steps = [
        load_round(finished.store, reader, finished.task_id, r).report["merge_step"] for r in (0, 1)
    ]
    page = api.get(f"/tasks/{finished.task_id}").text
    shown = re.findall(r'data-field="merge-step"[^>]*>(\w+)<', page)
    assert shown == [s for s in steps if s != "outer"]


def test_task_shows_reports_credits_and_slashes(api, finished):
    data = api.get(f"/api/tasks/{finished.task_id}").json()
    reader = _reader(finished)
    assert data["metric"] == "balanced_accuracy" and data["lower_is_better"] is False
    pinned = [load_round(finished.store, reader, finished.task_id, r) for r in (0, 1)]
    assert data["metric_points"] == [[r, p.report["merged_metric"]] for r, p in enumerate(pinned)]
    for view, p in zip(data["rounds"], pinned, strict=True):
        assert view["phase"] == "final"
        assert view["posted"]["merge_step"] == p.report["merge_step"]
        assert p.report["merge_step"] in ("outer", "average", "best")
        assert view["posted"]["report_cid"] == p.report_cid
        assert view["total_credited"] == p.total_credited
        verdicts = {s["author"]: s for s in view["posted"]["submissions"]}
        assert verdicts[finished.liar]["status"] == "dishonest"
        assert any(not c["passed"] for c in verdicts[finished.liar]["checks"])
        for who in finished.honest:
            assert verdicts[who]["credit"] == p.tree.amount(who) > 0
            assert verdicts[who]["reward_claimed"] is True
            # the search published nothing new (trials = 0): it trained the recipe it started from
            assert verdicts[who]["kept"] == "nothing: the recipe it started from"
            assert verdicts[who]["winning_recipe"] is (who == p.report["recipe_author"])
        assert p.report["recipe_author"] in finished.honest
        assert verdicts[finished.liar]["kept"] is None  # a dishonest line lists no search
        assert view["posted"]["ideas"] == []
    slashed = reader.get("ContributorSlashed", taskId=finished.task_id)
    assert [(s["contributor"], s["amount"]) for s in data["slashes"]] == [
        (e["args"]["contributor"], e["args"]["amount"]) for e in slashed
    ]
    assert {s["reason"] for s in data["slashes"]} == {"dishonest_claim"}


def test_task_shows_the_coordinator_stake_and_slashes(api, finished):
    data = api.get(f"/api/tasks/{finished.task_id}").json()
    info = finished.client.task(finished.task_id)
    assert data["coordinator_stake"] == info.coordinator_stake == 0  # released at close
    assert data["slashes_pending"] == info.slashes_pending == 0  # settled at close
    assert data["stake_needed"] == 0 and data["open_disputes"] == 0
    for view in data["rounds"]:
        on_chain = finished.client.round(finished.task_id, view["round"])
        assert view["dispute"] is None and "challenger" not in view
        assert view["slashed_total"] == on_chain.slashed_total > 0  # the liar, every round
        assert view["slashes_digest"] == "0x" + on_chain.slashes_digest.hex()
        assert view["claims_expire_at"] == on_chain.challenge_deadline + 7 * 86_400


def test_a_disputed_round_shows_its_dispute(api, finished, disputed):
    data = api.get(f"/api/tasks/{disputed.task_id}").json()
    market = finished.client
    info = market.task(disputed.task_id)
    assert data["coordinator_stake"] == info.coordinator_stake == 0  # forfeited
    assert data["slashes_pending"] == info.slashes_pending == 0  # the overturn undid the slash
    (view,) = data["rounds"]
    on_chain = market.dispute(disputed.task_id, 0)
    dispute = view["dispute"]
    assert dispute["outcome"] == "overturned" and dispute["deadline"] is None
    assert dispute["challengers"] == disputed.challengers
    assert dispute["voters"] == [disputed.validator]
    assert (dispute["votes"], dispute["leader_votes"], dispute["quorum"]) == (1, 1, 1)
    assert dispute["vote_deadline"] == on_chain.vote_deadline
    assert dispute["forfeited_stake"] == disputed.stake
    assert dispute["payout_per_winner"] == on_chain.payout_per_winner == disputed.stake // 3
    assert dispute["refunded_to_escrow"] == DISPUTED_CREDIT
    posted, voted = sorted(dispute["candidates"], key=lambda c: not c["posted"])
    assert (
        posted["posted"] and posted["votes"] == 0 and posted["report_cid"] == disputed.posted_report
    )
    assert voted["votes"] == 1 and voted["total_credited"] == 0
    assert voted["report_cid"] == disputed.voted_report and voted["candidate"] == dispute["leader"]
    assert view["phase"] == "final" and view["total_credited"] == 0
    assert view["slashed_total"] == market.round(disputed.task_id, 0).slashed_total > 0
    assert view["posted"]["report_cid"] == disputed.voted_report  # it pays by the vote's credits
    assert view["posted"]["recomputed"] is True
    slashes = data["slashes"]
    assert [(s["contributor"], s["reason"]) for s in slashes] == [(disputed.sleeper, "timeout")]
    audit = api.get(f"/api/tasks/{disputed.task_id}/payouts").json()
    assert audit["ok"] is True, audit
    page = api.get(f"/tasks/{disputed.task_id}").text
    assert 'id="dispute-0"' in page and "overturned" in page
    assert "No round of this task was challenged" not in page
    assert 'class="undone"' in page  # the slashed amount, struck through
    plain = api.get(f"/tasks/{finished.task_id}").text
    assert "No round of this task was challenged" in plain


def test_the_market_and_its_validators(api, finished, disputed):
    market = finished.client
    summary = api.get("/api/market").json()
    assert summary["address"] == market.address and summary["paused"] is False
    assert summary["validators"] == 1
    assert summary["validator_stake_total"] == market.validator_stake_total() > 0
    assert summary["rules"]["quorum"] == market.rules().quorum
    assert summary["open_disputes"] == 0
    seat = api.get(f"/api/validators/{disputed.validator}").json()
    assert seat["staked"] is True and seat["stake"] == market.validator(disputed.validator)[0]
    assert [(v["task_id"], v["for_posted"], v["outcome"]) for v in seat["votes"]] == [
        (disputed.task_id, False, "overturned")
    ]
    page = api.get("/").text
    assert 'data-field="validators">1<' in page
    assert f'data-wei="{summary["validator_stake_total"]}"' in page
    assert api.get("/api/validators/0x12").status_code == 400


def test_round_endpoint(api, finished):
    data = api.get(f"/api/tasks/{finished.task_id}/rounds/1").json()
    on_chain = finished.client.round(finished.task_id, 1)
    assert data["phase"] == "final" and data["claimed_total"] == on_chain.claimed_total
    assert data["posted"]["merged_cid"]


def test_payouts_are_the_cli_check(api, finished):
    data = api.get(f"/api/tasks/{finished.task_id}/payouts").json()
    reader = _reader(finished)
    audit = verify_task(finished.client, reader, finished.task_id)
    audit.checks.extend(verify_reports(finished.store, audit.ledger))
    assert data["ok"] is True and audit.ok
    assert [c["name"] for c in data["checks"]] == [c.name for c in audit.checks]
    assert [(c["expected"], c["actual"]) for c in data["checks"]] == [
        (c.expected, c.actual) for c in audit.checks
    ]


def test_the_cli_reads_the_same_books_as_the_dashboard(
    api, finished, runner, devnet_network, monkeypatch
):
    monkeypatch.setenv("MAGNET_MARKET_ADDRESS", finished.client.address)
    task = str(finished.task_id)
    shown = runner.invoke(main, ["task", "show", task, "--json"])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.stdout)
    view = api.get(f"/api/tasks/{finished.task_id}").json()
    assert data["slashes"] and data["slashes"] == view["slashes"]
    assert {s["contributor"] for s in data["slashes"]} == {finished.liar}
    assert [r["phase"] for r in data["round_states"]] == [r["phase"] for r in view["rounds"]]
    verified = runner.invoke(main, ["payouts", "verify", task, "--no-reports", "--json"])
    assert verified.exit_code == 0, verified.output
    audit = api.get(f"/api/tasks/{finished.task_id}/payouts").json()
    assert json.loads(verified.stdout)["slashed"] == audit["slashed"] > 0
    assert json.loads(verified.stdout)["paid_rewards"] == audit["paid_rewards"] > 0


def test_payouts_fail_when_the_reports_are_missing(finished, tmp_path):
    empty = LocalStore(tmp_path / "empty")
    bare = local_client(create_app(Session.of_market(finished.client, empty, finished.from_block)))
    data = bare.get(f"/api/tasks/{finished.task_id}/payouts").json()
    assert data["ok"] is False
    assert any(p.startswith("pinned reports:") for p in data["problems"])
    page = bare.get(f"/tasks/{finished.task_id}/payouts").text
    assert 'class="verdict fail">FAIL<' in page
    task = bare.get(f"/tasks/{finished.task_id}")  # the chain's side still shows
    assert task.status_code == 200 and task.text.count("Report unavailable") == 2
    (row,) = [t for t in bare.get("/api/tasks").json() if t["task_id"] == finished.task_id]
    assert row["name"] is None and row["kind"] is None  # no spec in this store: still listed
    assert "<svg" not in task.text and "No round posted yet" not in task.text


def test_contributor_credits_and_history(api, finished):
    who = finished.honest[0]
    data = api.get(f"/api/contributors/{who.lower()}").json()
    assert data["address"] == who
    assert data["withdrawable"] == finished.client.withdrawable(who) == 0
    reader = _reader(finished)
    paid = [e["args"]["amount"] for e in reader.get("RewardClaimed", account=who)]
    assert data["credited"] == data["claimed"] == sum(paid) > 0
    assert [c["round"] for c in data["credits"]] == [0, 1]
    (slot,) = data["slots"]
    assert slot["task_id"] == finished.task_id and slot["bond_left"] == 0
    assert slot["rewarded_rounds"] == [0, 1]
    events = [h["event"] for h in data["history"]]
    assert events[0] == "ContributorJoined" and events[-1] == "Withdrawn"
    liar = api.get(f"/api/contributors/{finished.liar}").json()
    assert liar["credits"] == [] and len(liar["slashes"]) == 2


def test_bad_ids_and_addresses_are_clear_errors(api, finished):
    cases = {
        "/api/tasks/999": (404, "no task 999"),
        "/api/tasks/0": (404, "no task 0"),
        "/api/tasks/abc": (400, "task id must be a whole number"),
        "/api/tasks/1.5/payouts": (400, "task id must be a whole number"),
        f"/api/tasks/{finished.task_id}/rounds/7": (404, "no round 7"),
        f"/api/tasks/{finished.task_id}/rounds/x": (400, "round index must be a whole number"),
        "/api/contributors/0x1234": (400, "not an Ethereum address"),
        "/api/contributors/bob": (400, "not an Ethereum address"),
        f"/api/contributors/{UNKNOWN}": (404, "no activity on this market"),
        "/api/runs/nope": (404, "no autoresearch run"),
        "/api/nothing-here": (404, "no such page"),
    }
    for path, (status, message) in cases.items():
        response = api.get(path)
        assert response.status_code == status, path
        assert response.headers["content-type"] == "application/json", path
        assert message in response.json()["error"], (path, response.json())
    page = api.get("/tasks/999")
    assert page.status_code == 404 and "text/html" in page.headers["content-type"]
    assert "no task 999" in page.text and "Traceback" not in page.text


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_rpc_is_a_503(finished):
    url = f"http://127.0.0.1:{_closed_port()}"
    offline = MarketClient(Connection(Network("devnet", url, 31337)), finished.client.address)
    client = local_client(create_app(Session.of_market(offline, finished.store)))
    for path in ("/api/tasks", f"/api/tasks/{finished.task_id}", "/api/head"):
        response = client.get(path)
        assert response.status_code == 503, path
        assert "chain RPC unreachable" in response.json()["error"]
    page = client.get("/")
    assert page.status_code == 503 and "chain RPC unreachable" in page.text


def test_runs_are_read_with_the_ledger(api):
    (summary,) = api.get("/api/runs").json()
    assert summary["name"] == "digits-sweep"
    assert (summary["experiments"], summary["kept"], summary["crashed"]) == (6, 3, 1)
    assert (summary["baseline"], summary["best"]) == (0.94, 0.97)
    run = api.get("/api/runs/digits-sweep").json()
    assert [r["status"] for r in run["records"]][:3] == ["keep", "discard", "keep"]
    assert run["running_best"][-1] == [5, 0.97]
    assert api.get("/api/runs/..").status_code == 404


def test_withdraw_needs_an_account_and_the_token(api, finished, actors):
    assert api.post("/actions/withdraw", data={"token": "x"}).status_code == 403
    signed = local_client(
        create_app(Session.of_market(finished.client, finished.store), signer=actors.funder),
        follow_redirects=False,
    )
    response = signed.post("/actions/withdraw", data={"token": "guess"})
    assert response.status_code == 403 and "token" in response.text
    other = signed.get(f"/contributors/{actors.sponsor.address}").text
    assert 'id="withdraw"' not in other  # only the configured account's page has the button
    page = signed.get(f"/contributors/{actors.funder.address}").text  # no activity, still shown
    assert re.search(r'<button id="withdraw" type="submit"\s+disabled', page)
    token = re.search(r'name="token" value="([^"]+)"', page)
    assert token is not None
    response = signed.post("/actions/withdraw", data={"token": token.group(1)})
    assert response.status_code == 409 and "nothing to withdraw" in response.text


def test_pages_send_a_strict_content_security_policy(api):
    response = api.get("/")
    assert "script-src" not in response.headers["content-security-policy"]
    assert response.headers["content-security-policy"].startswith("default-src 'self'")
    assert response.headers["x-frame-options"] == "DENY"


def test_other_host_names_are_refused(api):
    """A rebinding page reaches 127.0.0.1 under its own name: no page, no token for it."""
    response = api.get("/", headers={"host": "evil.example:8547"})
    assert response.status_code == 400
    assert "does not answer to host 'evil.example'" in response.json()["error"]
    for host in ("localhost:8547", "127.0.0.1", "[::1]:8547"):
        assert api.get("/api/head", headers={"host": host}).status_code == 200, host
