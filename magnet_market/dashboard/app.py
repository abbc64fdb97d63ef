"""The dashboard's web layer: server-rendered pages, a JSON API and a live-update stream.

Handlers only parse the request, ask the application's `MarketView` or `Runs` and render; every
failure becomes a clear status code with a one-line message (JSON under ``/api``, a page
elsewhere), never a stack trace. The one action that sends a transaction (``withdraw``) exists
only when the server was given a signing account, and needs the server's random token.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jinja2
from eth_account.signers.local import LocalAccount
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from magnet_market.app.errors import (
    UNREACHABLE,
    ActionError,
    ChainError,
    RequestError,
    RPCUnavailableError,
)
from magnet_market.app.market_view import MarketView, TaskView
from magnet_market.app.session import Session
from magnet_market.dashboard.errors import ForbiddenError, status_of
from magnet_market.dashboard.ledger_data import Runs, RunView
from magnet_market.dashboard.live import ChainPulse
from magnet_market.dashboard.svg import Series, chart
from magnet_market.units import format_ether

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
#: Everything the pages load comes from this server; no inline script, no third party.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
#: How a dispute's outcome reads on a page.
OUTCOMES = {
    "open": "vote open",
    "posted_held": "posted result held",
    "overturned": "overturned",
    "no_quorum": "no quorum: voided",
}
#: Host names a loopback dashboard answers to: a page of another site that re-points its own
#: name at 127.0.0.1 (DNS rebinding) sends its name as Host, and is refused.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def create_app(
    session: Session,
    *,
    runs_dir: Path | None = None,
    signer: LocalAccount | None = None,
    poll: float = 1.0,
    allowed_hosts: Sequence[str] | None = LOOPBACK_HOSTS,
) -> FastAPI:
    """The dashboard of the market and content store of ``session``.

    Args:
        session: whose market and store to show (its own signer, if any, is not used).
        runs_dir: a folder of autoresearch output folders for the ledger pages.
        signer: the account the ``withdraw`` button sends from; ``None`` keeps it read-only.
        poll: seconds between looks at the chain for the live-update stream.
        allowed_hosts: the ``Host`` names requests may carry; ``None`` accepts any (a server
            bound to a public address, where the operator chose exposure).
    """
    data = MarketView(session)
    runs = Runs(runs_dir)
    pulse = ChainPulse(data, poll)
    token = secrets.token_urlsafe(32)
    templates = _templates()
    app = FastAPI(title="MAGNET Market dashboard", docs_url=None, redoc_url=None)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    _install_error_handlers(app, templates)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        host = host_name(request.headers.get("host", ""))
        if allowed_hosts is not None and host not in allowed_hosts:
            message = f"this dashboard does not answer to host {host!r}; use 127.0.0.1"
            response: Response = JSONResponse({"error": message, "status": 400}, 400)
        else:
            response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    def page(request: Request, name: str, **context: Any) -> Response:
        context |= {
            "network": session.network.name,
            "market": session.market.address,
            "signer": signer.address if signer else None,
            "token": token,
        }
        return templates.TemplateResponse(request, name, context)

    # ───────────────────────────────────────────────────────── pages

    @app.get("/", include_in_schema=False)
    def tasks_page(request: Request) -> Response:
        return page(request, "tasks.html", tasks=data.tasks(), summary=data.summary())

    @app.get("/tasks/{task_id}", include_in_schema=False)
    def task_page(request: Request, task_id: int) -> Response:
        view = data.task(task_id)
        return page(request, "task.html", task=view, chart=_task_chart(view))

    @app.get("/tasks/{task_id}/payouts", include_in_schema=False)
    def payouts_page(request: Request, task_id: int) -> Response:
        return page(request, "payouts.html", task_id=task_id, audit=data.payouts(task_id))

    @app.get("/contributors/{address}", include_in_schema=False)
    def contributor_page(request: Request, address: str, withdrawn: int | None = None) -> Response:
        view = data.contributor(address, known=signer.address if signer else None)
        mine = signer is not None and signer.address == view.address
        return page(request, "contributor.html", who=view, mine=mine, withdrawn=withdrawn)

    @app.get("/runs", include_in_schema=False)
    def runs_page(request: Request) -> Response:
        return page(request, "runs.html", runs=runs.summaries(), root=runs_dir)

    @app.get("/runs/{name}", include_in_schema=False)
    def run_page(request: Request, name: str) -> Response:
        run = runs.get(name)
        return page(request, "run.html", run=run, chart=_run_chart(run))

    @app.post("/actions/withdraw", include_in_schema=False)
    async def withdraw(request: Request) -> Response:
        # The form is parsed by hand: one urlencoded field needs no multipart dependency.
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        if signer is None:
            raise ForbiddenError("this dashboard is read-only: start it with --account to withdraw")
        if not secrets.compare_digest(form.get("token", [""])[0], token):
            raise ForbiddenError("missing or wrong action token: reload the page and try again")
        amount = await run_in_threadpool(send_withdraw, signer)
        return RedirectResponse(f"/contributors/{signer.address}?withdrawn={amount}", 303)

    def send_withdraw(account: LocalAccount) -> int:
        sender = session.as_signer(account).signing_market
        try:
            amount = data.locked(lambda: sender.withdrawable(account.address))
            if amount == 0:
                raise ActionError(f"{account.address} has nothing to withdraw")
            data.locked(sender.withdraw)
        except ChainError as e:
            raise ActionError(f"withdraw failed: {type(e).__name__}: {e}") from None
        return amount

    # ───────────────────────────────────────────────────────── JSON API

    @app.get("/api/market")
    def api_market() -> Any:
        return jsonable_encoder(data.summary())

    @app.get("/api/validators/{address}")
    def api_validator(address: str) -> Any:
        return jsonable_encoder(data.validator(address))

    @app.get("/api/tasks")
    def api_tasks() -> Any:
        return jsonable_encoder(data.tasks())

    @app.get("/api/tasks/{task_id}")
    def api_task(task_id: int) -> Any:
        view = data.task(task_id)
        return jsonable_encoder({**asdict(view), "metric_points": view.metric_points})

    @app.get("/api/tasks/{task_id}/rounds/{round_index}")
    def api_round(task_id: int, round_index: int) -> Any:
        return jsonable_encoder(data.round(task_id, round_index))

    @app.get("/api/tasks/{task_id}/payouts")
    def api_payouts(task_id: int) -> Any:
        return data.payouts(task_id).as_dict()

    @app.get("/api/contributors/{address}")
    def api_contributor(address: str) -> Any:
        view = data.contributor(address)
        return jsonable_encoder(
            {**asdict(view), "credited": view.credited, "claimed": view.claimed}
        )

    @app.get("/api/runs")
    def api_runs() -> Any:
        return jsonable_encoder(runs.summaries())

    @app.get("/api/runs/{name}")
    def api_run(name: str) -> Any:
        run = runs.get(name)
        return jsonable_encoder({**asdict(run), "running_best": run.running_best})

    @app.get("/api/head")
    def api_head() -> Any:
        """The pulse, for clients that poll instead of listening to ``/api/events``."""
        return asdict(pulse.current())

    @app.get("/api/events", response_class=EventSourceResponse)
    async def api_events(request: Request) -> AsyncIterator[ServerSentEvent]:
        """A ``market`` event whenever new market events are mined; ``offline`` while the RPC
        does not answer."""
        seen = None
        while not await request.is_disconnected():
            try:
                now = await run_in_threadpool(pulse.current)
            except UNREACHABLE:
                yield ServerSentEvent(event="offline", data={"error": "chain RPC unreachable"})
            else:
                if seen is None or now.events != seen.events:
                    yield ServerSentEvent(event="market", data=asdict(now))
                seen = now
            await asyncio.sleep(poll)

    return app


def _task_chart(view: TaskView) -> Any:
    """The merged model's metric per posted round (on validation, and on each round's sealed
    holdout slice when the task has one), with the base checkpoint as a reference."""
    points = view.metric_points
    if not points:
        return None
    series = [Series("merged model", points, "line", "s1")]
    if view.holdout_points:  # a sealed holdout: each round's model on its own slice
        series.append(Series("on the round's sealed holdout", view.holdout_points, "line", "s2"))
    if view.baseline is not None:
        series.insert(0, Series("base checkpoint", [(0, view.baseline)], "hline", "ref0"))
    y_label = view.metric or "metric"
    if view.lower_is_better is not None:
        y_label += " (lower is better)" if view.lower_is_better else " (higher is better)"
    return chart(series, "round", y_label, f"task {view.row.task_id}: merged model per round")


def _run_chart(run: RunView) -> Any:
    """Each experiment's metric (kept, discarded) and the running best, like ``progress.png``."""
    scored = [(r.id, r.metric, r.status) for r in run.records if r.metric is not None]
    kept = [(i, metric) for i, metric, status in scored if status == "keep"]
    discarded = [(i, metric) for i, metric, status in scored if status == "discard"]
    series = [  # the step line first, so the markers are drawn over it
        Series("running best", run.running_best, "step", "s1"),
        Series("discarded", discarded, "points", "s3"),
        Series("kept", kept, "points", "s2"),
    ]
    series = [s for s in series if s.points]
    if not series:
        return None
    s = run.summary
    better = {"minimize": " (lower is better)", "maximize": " (higher is better)"}
    return chart(series, "experiment", s.metric + better.get(s.direction or "", ""), s.name)


def _templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["eth"] = format_ether
    env.filters["eth_short"] = eth_short
    env.filters["short"] = lambda a: f"{a[:6]}…{a[-4:]}" if a and len(a) > 12 else a
    env.filters["metric"] = lambda v: "—" if v is None else f"{v:.4f}"
    env.filters["countdown"] = countdown
    env.filters["duration"] = duration
    env.filters["outcome"] = lambda o: OUTCOMES.get(o, o.replace("_", " "))
    return Jinja2Templates(env=env)


def host_name(header: str) -> str:
    """The name in a ``Host`` header, without its port (``[::1]:8547`` → ``::1``)."""
    if header.startswith("["):
        return header[1 : header.find("]")]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def eth_short(wei: int) -> str:
    """At most six decimals for reading (``0.360746 ETH``); pages keep the exact wei nearby."""
    text = format_ether(wei)
    whole, _, frac = text.removesuffix(" ETH").partition(".")
    if len(frac) <= 6:
        return text
    return f"{whole}.{frac[:6]}… ETH"


def countdown(seconds: int) -> str:
    """``1h 02m 05s`` style; ``passed`` once at or below zero."""
    if seconds <= 0:
        return "passed"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def duration(seconds: int) -> str:
    """A fixed length of time, ``7 d`` or ``1 d 6 h`` or ``30 s`` style."""
    parts = []
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {unit}")
    return " ".join(parts) or "0 s"


def _install_error_handlers(app: FastAPI, templates: Jinja2Templates) -> None:
    """Every failure as a status code and one line: JSON under /api, an error page elsewhere."""

    def answer(request: Request, status: int, message: str) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": message, "status": status}, status_code=status)
        context = {
            "status": status,
            "message": message,
            "network": "",
            "market": "",
            "signer": None,
        }
        return templates.TemplateResponse(request, "error.html", context, status_code=status)

    @app.exception_handler(RequestError)
    async def request_error(request: Request, e: RequestError) -> Response:
        return answer(request, status_of(e), str(e))

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, e: RequestValidationError) -> Response:
        parts = []
        for err in e.errors():
            name = str(err["loc"][-1]).replace("_", " ")
            if str(err.get("type", "")).startswith("int"):
                parts.append(f"{name} must be a whole number, got {err.get('input')!r}")
            else:
                parts.append(f"{name}: {err.get('msg')}")
        return answer(request, 400, "; ".join(parts) or "bad request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException) -> Response:
        message = "no such page" if e.status_code == 404 else str(e.detail)
        return answer(request, e.status_code, message)

    async def unreachable(request: Request, e: Exception) -> Response:
        if isinstance(e, RPCUnavailableError):
            return answer(request, 503, f"chain RPC unreachable: {e}")
        return answer(request, 503, f"chain RPC unreachable ({type(e).__name__})")

    for failure in UNREACHABLE:
        app.add_exception_handler(failure, unreachable)

    @app.exception_handler(ChainError)
    async def chain_error(request: Request, e: ChainError) -> Response:
        return answer(request, 502, f"{type(e).__name__}: {e}")

    @app.exception_handler(Exception)
    async def internal_error(request: Request, e: Exception) -> Response:
        log.error("dashboard request %s failed", request.url.path, exc_info=e)
        return answer(request, 500, f"internal error ({type(e).__name__}); see the server log")
