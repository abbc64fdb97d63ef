"""The dashboard's small parts (charts, formatting, loopback check, run folders) and the
``magnet dashboard`` command serving a real market in its own process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from magnet_market.app import Session
from magnet_market.app.market_view import IdeaLine, _posted_round
from magnet_market.app.reports import PinnedRound
from magnet_market.dashboard import create_app
from magnet_market.dashboard.app import countdown, duration, eth_short
from magnet_market.dashboard.errors import NotFoundError
from magnet_market.dashboard.ledger_data import Runs
from magnet_market.dashboard.server import is_loopback
from magnet_market.dashboard.svg import Series, chart, nice_ticks
from tests.dashboard._client import local_client


def test_chart_has_one_marker_per_point_and_escapes_labels():
    svg = str(chart([Series("m<1>", [(0, 0.5), (1, 0.25), (2, 0.75)])], "round", "x&y", "t"))
    assert svg.count('<circle class="point') == 3
    assert svg.count("<polyline") == 1
    assert "m&lt;1&gt;" in svg and "x&amp;y" in svg and "<1>" not in svg
    assert "style=" not in svg  # colours come from the stylesheet (strict CSP)
    assert "nothing to plot" in str(chart([Series("m", [])], "x", "y", "t"))
    one = str(chart([Series("m", [(0, 1.5), (1, float("nan"))])], "round", "loss", "t"))
    assert one.count("<circle") == 1 and "nan" not in one


def test_ticks_cover_the_range():
    ticks = nice_ticks(0.083, 0.4389)
    assert ticks[0] <= 0.083 and ticks[-1] >= 0.4389 and 3 <= len(ticks) <= 7
    assert nice_ticks(2.0, 2.0)[0] < 2.0 < nice_ticks(2.0, 2.0)[-1]  # one value still spans


def test_formatting():
    assert countdown(3725) == "1h 02m 05s"
    assert countdown(65) == "1m 05s" and countdown(0) == "passed"
    assert eth_short(360746422105157734) == "0.360746… ETH"
    assert eth_short(10**18) == "1 ETH"
    assert duration(7 * 86_400) == "7 d" and duration(30) == "30 s"
    assert duration(86_400 + 90) == "1 d 1 min 30 s" and duration(0) == "0 s"


def test_loopback_hosts():
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0")
    assert not is_loopback("no-such-host.invalid")


def test_runs_never_leave_their_folder_nor_repair_a_live_ledger(runs_dir, tmp_path):
    runs = Runs(runs_dir)
    for name in ("..", "../runs", "/etc", "digits-sweep/../digits-sweep"):
        with pytest.raises(NotFoundError):
            runs.get(name)
    assert Runs(None).names() == [] and Runs(tmp_path / "missing").names() == []
    live = tmp_path / "live"
    live.mkdir()
    folder = live / "run"
    folder.mkdir()
    whole = (runs_dir / "digits-sweep" / "experiments.jsonl").read_text().splitlines()[0]
    torn = whole + "\n" + whole[:40]  # a write in progress
    (folder / "experiments.jsonl").write_text(torn)
    assert len(Runs(live).get("run").records) == 1
    assert (folder / "experiments.jsonl").read_text() == torn  # untouched


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_magnet_dashboard_serves_the_market(finished, devnet, tmp_path):
    port = _free_port()
    env = {
        **os.environ,
        "MAGNET_HOME": str(tmp_path / "home"),
        "MAGNET_DEVNET_URL": devnet.url,
        "MAGNET_MARKET_ADDRESS": finished.client.address,
    }
    cmd = [sys.executable, "-m", "magnet_market.cli", "dashboard", "--port", str(port)]
    cmd += ["--store", str(finished.store.root)]
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/api/tasks", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, "no dashboard"
                time.sleep(0.2)
        assert response.status_code == 200
        ids = [t["task_id"] for t in response.json()]
        assert finished.task_id in ids
        page = httpx.get(f"http://127.0.0.1:{port}/contributors/{finished.sponsor}").text
        assert "read-only" in page and 'id="withdraw"' not in page
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert f"MAGNET dashboard on http://127.0.0.1:{port}/" in err
    assert "warning" not in err


def test_magnet_dashboard_fails_cleanly_without_a_node(tmp_path):
    env = {**os.environ, "MAGNET_HOME": str(tmp_path), "MAGNET_DEVNET_URL": "http://127.0.0.1:9"}
    done = subprocess.run(
        [sys.executable, "-m", "magnet_market.cli", "dashboard"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "RPCUnavailableError" in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""


def test_an_unexpected_failure_is_a_500_without_a_trace(finished, tmp_path):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "experiments.jsonl").write_text("{not json\n{}\n")
    app = create_app(Session.of_market(finished.client, finished.store), runs_dir=tmp_path)
    client = local_client(app, raise_server_exceptions=False)
    response = client.get("/api/runs/broken")
    assert response.status_code == 500
    assert response.json()["error"] == "internal error (JSONDecodeError); see the server log"
    page = client.get("/runs/broken")
    assert page.status_code == 500 and "Traceback" not in page.text


def test_a_round_s_swarm_lines_come_from_its_report():
    report = {
        "recipe_author": "0xa",
        "submissions": [
            {
                "author": "0xa",
                "cid": "bafya",
                "status": "accepted",
                "recipe": {"optim.lr": 0.006},
                "recipe_changes": {"optim.lr": 0.006},
                "ledger_cid": "bafkledger",
                "credit_wei": "9",
            },
            {
                "author": "0xb",
                "cid": "bafyb",
                "status": "accepted",
                "recipe": {"optim.lr": 0.003},
                "recipe_changes": {},
                "ledger_cid": None,
                "credit_wei": "0",
            },
            {"author": "0xc", "cid": "bafyc", "status": "rejected", "credit_wei": "0"},
        ],
        "ideas": [
            {
                "author": "0xb",
                "round": 0,
                "changes": {"optim.warmup_steps": 40},
                "adopted_by": ["0xa"],
                "score": 0.02,
                "credit_wei": "1",
            }
        ],
    }
    pinned = PinnedRound(1, 1, "bafym", "bafyr", bytes(32), 10, report, None)
    posted = _posted_round(pinned, claimed=set())
    lines = {s.author: (s.kept, s.ledger_cid, s.winning_recipe) for s in posted.submissions}
    assert lines == {
        "0xa": ("optim.lr=0.006", "bafkledger", True),
        "0xb": ("nothing: the recipe it started from", None, False),
        "0xc": (None, None, False),
    }
    assert posted.ideas == [IdeaLine("0xb", 0, "optim.warmup_steps=40", ["0xa"], 1)]
