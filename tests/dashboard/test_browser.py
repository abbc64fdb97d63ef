"""The dashboard in headless Chromium (Debian's, driven by Playwright) against a live server.

The server runs in a thread on a free loopback port, over the finished market; it signs as the
sponsor so the withdraw flow can be exercised. Screenshots go to build/test-artifacts/.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect, sync_playwright

from magnet_market.app import Session
from magnet_market.app.auditor import verify_reports, verify_task
from magnet_market.app.reports import load_round
from magnet_market.chain.events import EventReader
from magnet_market.dashboard import create_app

CHROMIUM = Path("/usr/bin/chromium")
# Runs after the dashboard's own submit handler: marks the page once a submit was let through or
# cancelled, the event a declined confirmation means (waiting a fixed time would only guess).
SUBMIT_PROBE = """() => document.addEventListener("submit", (event) => {
    document.body.dataset.submitCancelled = String(event.defaultPrevented);
})"""


@pytest.fixture(scope="module")
def server(finished, disputed, runs_dir, actors) -> Iterator[str]:
    """The dashboard on 127.0.0.1:<free port>, signing as the sponsor; yields its base URL."""
    app = create_app(
        Session.of_market(finished.client, finished.store, finished.from_block),
        runs_dir=runs_dir,
        signer=actors.sponsor,
        poll=0.3,
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1)
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert uv.started, "the dashboard did not start"
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    uv.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():  # a missing browser is a failure, as a missing IPFS node is
        pytest.fail(f"{CHROMIUM} not found: `make install` installs Debian's chromium")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, server: str) -> Iterator[Page]:
    context = browser.new_context(base_url=server, viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    yield tab
    context.close()
    assert errors == [], errors  # no script error, no CSP violation, nothing failed to load


def _wei(page: Page, selector: str) -> int:
    return int(page.locator(selector).get_attribute("data-wei") or "")


def test_tasks_page_shows_the_chain(page, finished, artifacts):
    page.goto("/")
    row = page.locator(f'tr[data-task="{finished.task_id}"]')
    info = finished.client.task(finished.task_id)
    expect(row.locator(".status")).to_have_text("closed")
    prefix = f'tr[data-task="{finished.task_id}"] [data-field='
    assert _wei(page, prefix + '"bounty"]') == info.total_funded
    assert _wei(page, prefix + '"escrow"]') == info.escrow
    assert _wei(page, prefix + '"reserved"]') == info.reserved
    expect(row.locator('[data-field="rounds"]')).to_have_text(f"{info.rounds}/{info.rounds}")
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    expect(page.locator('#market-summary [data-field="validators"]')).to_have_text("1")
    staked = finished.client.validator_stake_total()
    assert _wei(page, '#market-summary [data-field="validator-stake"]') == staked > 0
    page.screenshot(path=artifacts / "dashboard-tasks.png", full_page=True)


def test_task_page_charts_every_posted_round(page, finished, artifacts):
    page.goto(f"/tasks/{finished.task_id}")
    reader = EventReader(finished.client, from_block=finished.from_block)
    posted = reader.get("RoundPosted", taskId=finished.task_id)
    points = page.locator("#metric svg.chart circle.point")
    expect(points).to_have_count(len(posted))
    for i, e in enumerate(posted):
        pinned = load_round(finished.store, reader, finished.task_id, e["args"]["round"])
        shown = float(points.nth(i).get_attribute("data-y") or "nan")
        assert shown == pytest.approx(pinned.report["merged_metric"], rel=1e-5)
    assert page.locator("#metric svg.chart polyline.series").count() == 1
    info = finished.client.task(finished.task_id)
    assert _wei(page, '#summary [data-field="escrow"]') == info.escrow
    assert _wei(page, '#summary [data-field="bonds"]') == info.bonds_held
    liar = page.locator(f'table.submissions[data-round="0"] tr[data-author="{finished.liar}"]')
    expect(liar.locator(".status")).to_have_text("dishonest")
    expect(liar.locator("li.fail")).not_to_have_count(0)
    slashed = reader.get("ContributorSlashed", taskId=finished.task_id)
    expect(page.locator("#slash-table tbody tr")).to_have_count(len(slashed))
    page.screenshot(path=artifacts / "dashboard-task.png", full_page=True)


def test_task_page_shows_a_dispute(page, finished, disputed, artifacts):
    page.goto(f"/tasks/{disputed.task_id}")
    row = page.locator('#round-table tr[data-round="0"]')
    expect(row.locator('[data-field="dispute"] .status')).to_have_text("overturned")
    slashed = finished.client.round(disputed.task_id, 0).slashed_total
    assert _wei(page, '#round-table tr[data-round="0"] [data-field="slashed"]') == slashed
    expect(row.locator(".undone")).to_have_count(1)
    facts = page.locator('dl.dispute[data-round="0"]')
    expect(facts.locator("a.mono")).to_have_count(len(disputed.challengers))
    expect(facts.locator('[data-field="votes"]')).to_contain_text("1 of a quorum of 1")
    candidates = page.locator('table.dispute-table[data-round="0"] tbody tr')
    expect(candidates).to_have_count(2)
    expect(page.locator("table.dispute-table tr.leader")).to_contain_text("1")
    assert _wei(page, '#summary [data-field="stake"]') == 0  # forfeited to the winners
    page.locator('#round-table [data-field="dispute"] a').click()
    expect(page).to_have_url(f"{page.url.split('#')[0]}#dispute-0")
    page.screenshot(path=artifacts / "dashboard-dispute.png", full_page=True)


def test_payouts_page_is_the_cli_check(page, finished, artifacts):
    page.goto(f"/tasks/{finished.task_id}/payouts")
    reader = EventReader(finished.client, from_block=finished.from_block)
    audit = verify_task(finished.client, reader, finished.task_id)
    audit.checks.extend(verify_reports(finished.store, audit.ledger))
    expect(page.locator("#verdict")).to_have_text("PASS")
    expect(page.locator("#checks tbody tr")).to_have_count(len(audit.checks))
    expect(page.locator("#checks tr.mismatch")).to_have_count(0)
    page.screenshot(path=artifacts / "dashboard-payouts.png", full_page=True)


def test_contributor_page_shows_credits(page, finished, artifacts):
    who = finished.honest[0]
    page.goto(f"/contributors/{who}")
    reader = EventReader(finished.client, from_block=finished.from_block)
    paid = sum(e["args"]["amount"] for e in reader.get("RewardClaimed", account=who))
    assert _wei(page, "#claimed") == _wei(page, "#credited") == paid > 0
    assert _wei(page, "#withdrawable") == finished.client.withdrawable(who)
    expect(page.locator("#withdraw")).to_have_count(0)  # not the dashboard's account
    expect(page.locator("#credit-table tbody tr")).to_have_count(2)
    page.screenshot(path=artifacts / "dashboard-contributor.png", full_page=True)


def test_withdraw_asks_then_sends(page, finished, actors, server, artifacts):
    sponsor = finished.client.with_signer(actors.sponsor)
    if finished.client.task(finished.task_id).refund_remaining:
        sponsor.claim_refund(finished.task_id)  # the unspent escrow becomes withdrawable
    owed = finished.client.withdrawable(finished.sponsor)
    assert owed > 0
    page.goto(f"/contributors/{finished.sponsor}")
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    page.evaluate(SUBMIT_PROBE)
    button = page.locator("#withdraw")
    page.once("dialog", lambda d: d.dismiss())
    button.click()
    expect(page.locator("body")).to_have_attribute("data-submit-cancelled", "true")
    assert finished.client.withdrawable(finished.sponsor) == owed  # declined: nothing sent
    messages: list[str] = []
    page.once("dialog", lambda d: (messages.append(d.message), d.accept()))
    button.click()
    expect(page.locator("#notice")).to_contain_text("Withdrew")
    assert "withdrawing" in messages[0]
    assert posts == [f"{server}/actions/withdraw"]  # one POST in all: the accepted one
    assert finished.client.withdrawable(finished.sponsor) == 0
    assert _wei(page, "#withdrawable") == 0
    expect(page.locator("#withdraw")).to_be_disabled()
    page.screenshot(path=artifacts / "dashboard-withdrawn.png", full_page=True)


def test_pages_update_live_from_chain_events(page, finished, actors, server, artifacts):
    page.goto("/")
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    sponsor = finished.client.with_signer(actors.sponsor)
    new_id, _ = sponsor.create_task(
        finished.client.task(finished.task_id).spec_cid,
        actors.coordinator.address,
        rounds=3,
        bounty=10**18,
        claim_bond=10**16,
        max_contributors=4,
    )
    row = page.locator(f'tr[data-task="{new_id}"]')
    expect(row).to_be_visible(timeout=10_000)  # no reload: the SSE stream said so
    expect(row.locator(".status")).to_have_text("submitting")
    expect(row.locator(".countdown")).to_contain_text("submissions close")
    with httpx.stream("GET", f"{server}/api/events", timeout=5) as stream:
        lines = stream.iter_lines()
        assert next(lines) == "event: market"
        pulse = json.loads(next(lines).removeprefix("data: "))
        assert pulse["block"] >= pulse["last_event_block"] > 0
    page.screenshot(path=artifacts / "dashboard-tasks-live.png", full_page=True)


def test_autoresearch_ledger(page, artifacts):
    page.goto("/runs")
    page.locator("#run-table a", has_text="digits-sweep").click()
    expect(page.locator("#ledger tbody tr")).to_have_count(6)
    expect(page.locator("svg.chart circle.point")).to_have_count(5)  # the crash has no metric
    expect(page.locator("svg.chart path.step")).to_have_count(1)
    page.screenshot(path=artifacts / "dashboard-run.png", full_page=True)
