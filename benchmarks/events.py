"""Reading a market's events on a long chain: a cold scan, a warm restart, and a capped provider.

    python benchmarks/events.py            # key: value lines
    python benchmarks/events.py --json     # one JSON object
    python benchmarks/events.py --blocks 10000 --events 1000    # a quicker run

A devnet of its own (Hardhat's node by default: it mines 100,000 empty blocks at once, where
anvil's ``anvil_mine`` slows down with the chain's length; ``--engine anvil`` for anvil) gets
``--blocks`` blocks with ``--events`` market events spread over them (``TaskFunded``, a hundred
per funding block). Every read goes through a loopback relay that
counts the JSON-RPC requests and adds ``--latency-ms`` to each answer, a provider's round trip
(:class:`~magnet_market.chain.relay.RpcRelay`):

- ``cold_scan_s`` / ``rpc_calls_cold``: a reader with an empty disk cache reads every event from
  the market's deployment block;
- ``warm_scan_s`` / ``rpc_calls_warm``: after ``--new-blocks`` more blocks (with a hundred new
  events), a new reader over the same cache file (a restarted role) reads them all again; it
  should ask only for the new blocks;
- the same four with ``_capped``: through a relay that refuses ``eth_getLogs`` over ``--cap``
  blocks, as public providers do;
- ``v1_scan_s`` / ``rpc_calls_v1``: the baseline, run beside them: version 1's reader (one
  ``eth_getLogs`` per event name per 5,000-block chunk, nothing kept), uncapped;
  ``cold_vs_v1_time`` and ``cold_vs_v1_calls`` are the ratios.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _report import emit  # sibling module: these scripts run as `python benchmarks/NAME.py`

from magnet_market.chain.accounts import devnet_account
from magnet_market.chain.client import MarketClient
from magnet_market.chain.connection import Connection
from magnet_market.chain.deploy import deploy_market
from magnet_market.chain.devnet import Devnet
from magnet_market.chain.event_cache import EventCache
from magnet_market.chain.events import EVENT_NAMES, EventReader
from magnet_market.chain.hardhat import HardhatDevnet
from magnet_market.chain.relay import RpcRelay
from magnet_market.chain.types import Timing
from magnet_market.config import Network

EVENTS_PER_BLOCK = 100
V1_CHUNK = 5_000
DAY = 86_400


def _network(url: str) -> Network:
    return Network("devnet", url, 31337)


#: How each engine mines N empty blocks at once.
MINE_MANY = {"hardhat": "hardhat_mine", "anvil": "anvil_mine"}
ENGINES = {"hardhat": HardhatDevnet, "anvil": Devnet}


def _fill(
    market: MarketClient, task_id: int, blocks: int, events: int, engine: str, log: Console
) -> None:
    """Append ``blocks`` blocks to the chain, ``events`` of the market's events among them:
    funding blocks of a hundred ``fund`` transactions, spread evenly, the rest empty."""
    w3 = market.w3
    funder = devnet_account(3).address
    data = market.contract.functions.fund(task_id)._encode_transaction_data()
    batches = max(1, events // EVENTS_PER_BLOCK)
    gap = max(0, blocks // batches - 1)
    w3.provider.make_request("evm_setAutomine", [False])
    for batch in range(batches):
        for _ in range(EVENTS_PER_BLOCK):
            tx = {"from": funder, "to": market.address, "value": 10**12, "data": data}
            w3.eth.send_transaction({**tx, "gas": 120_000})
        w3.provider.make_request("evm_mine", [])
        if gap:
            w3.provider.make_request(MINE_MANY[engine], [hex(gap)])
        if batch % 10 == 9:
            log.print(f"  {batch + 1}/{batches} funding blocks, head {w3.eth.block_number}")
    w3.provider.make_request("evm_setAutomine", [True])


def _read(relay: RpcRelay, market: MarketClient, start: int, cache: Path) -> tuple[float, int, int]:
    """A reader over ``cache`` reads every event: seconds, RPC calls, events."""
    client = MarketClient(Connection(_network(relay.url)), market.address)
    relay.reset_counts()
    began = time.perf_counter()
    reader = EventReader(client, start, cache=EventCache(cache))
    found = len(reader.all())
    seconds = time.perf_counter() - began
    reader.cache.close()
    return seconds, sum(relay.calls.values()), found


def _read_v1(relay: RpcRelay, market: MarketClient, start: int) -> tuple[float, int, int]:
    """Version 1's reader: each event name in 5,000-block chunks, decoded by web3."""
    client = MarketClient(Connection(_network(relay.url)), market.address)
    relay.reset_counts()
    began = time.perf_counter()
    head = client.w3.eth.block_number
    found = 0
    for name in EVENT_NAMES:
        event = getattr(client.contract.events, name)()
        for lo in range(start, head + 1, V1_CHUNK):
            found += len(event.get_logs(from_block=lo, to_block=min(lo + V1_CHUNK - 1, head)))
    return time.perf_counter() - began, sum(relay.calls.values()), found


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--engine", choices=sorted(ENGINES), default="hardhat", help="the devnet")
    p.add_argument("--blocks", type=int, default=100_000, help="blocks on the chain")
    p.add_argument("--events", type=int, default=10_000, help="market events among them")
    p.add_argument("--new-blocks", type=int, default=1_000, help="blocks before the warm read")
    p.add_argument("--cap", type=int, default=1_000, help="the capped relay's eth_getLogs span")
    p.add_argument(
        "--latency-ms", type=float, default=50.0, help="added to every answer, as by a provider"
    )
    args = p.parse_args()
    log = Console(stderr=True)
    began = time.perf_counter()
    figures: dict[str, float] = {
        "blocks": args.blocks,
        "events": args.events,
        "cap": args.cap,
        "latency_ms": args.latency_ms,
    }
    engine = ENGINES[args.engine]()
    with engine as node, tempfile.TemporaryDirectory(prefix="magnet-events-") as tmp:
        conn = Connection(_network(node.url))
        owner = devnet_account(0)
        deployment = deploy_market(conn, owner, save=False)
        market = MarketClient(conn, deployment.address, owner)
        timing = Timing(DAY, DAY, DAY, DAY)
        task_id, _ = market.with_signer(devnet_account(1)).create_task(
            "bafkreispec", devnet_account(2).address, 1, 10**18, 10**16, 5, timing, None, None
        )
        log.print(f"filling {args.blocks} blocks with {args.events} events")
        _fill(market, task_id, args.blocks, args.events, args.engine, log)
        for start in ("cold", "warm"):
            if start == "warm":
                _fill(market, task_id, args.new_blocks, EVENTS_PER_BLOCK, args.engine, log)
            for suffix, cap in (("", None), ("_capped", args.cap)):
                cache = Path(tmp) / f"events{suffix}.sqlite"  # the warm read finds the cold's
                with RpcRelay(node.url, cap, args.latency_ms / 1000) as relay:
                    seconds, calls, found = _read(relay, market, deployment.block, cache)
                    if start == "cold" and not suffix:  # the baseline, beside the same relay
                        v1_seconds, v1_calls, v1_found = _read_v1(relay, market, deployment.block)
                        figures |= {"v1_scan_s": v1_seconds, "rpc_calls_v1": v1_calls}
                        figures["v1_events_read"] = v1_found
                figures |= {
                    f"{start}_scan_s{suffix}": seconds,
                    f"rpc_calls_{start}{suffix}": calls,
                    f"events_read_{start}{suffix}": found,
                }
                log.print(f"{start}{suffix}: {seconds:.2f} s, {calls} calls, {found} events")
    figures |= {
        "cold_vs_v1_time": figures["cold_scan_s"] / figures["v1_scan_s"],
        "cold_vs_v1_calls": figures["rpc_calls_cold"] / figures["rpc_calls_v1"],
        "warm_vs_cold_time": figures["warm_scan_s"] / figures["cold_scan_s"],
        "seconds": time.perf_counter() - began,
    }
    emit({"engine": args.engine, **figures}, args.json)


if __name__ == "__main__":
    main()
