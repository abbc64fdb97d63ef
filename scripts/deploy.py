"""Deploy MagnetMarket with the project's one deploy routine.

    python scripts/deploy.py --network devnet [--account NAME] [--owner ADDRESS]
    brownie run scripts/deploy.py --network devnet

Both call :func:`magnet_market.chain.deploy.deploy_market`; under brownie the RPC endpoint is
brownie's active network. Keys come from a keystore, ``MAGNET_PRIVATE_KEY`` or, on the devnet
only, the devnet's test accounts.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, replace

from magnet_market.chain.accounts import resolve_signer
from magnet_market.chain.connection import Connection
from magnet_market.chain.deploy import Deployment, deploy_market
from magnet_market.config import resolve_network


def deploy(
    network: str, rpc_url: str | None = None, account: str | None = None, owner: str | None = None
) -> Deployment:
    """Deploy to ``network`` (optionally at another RPC URL) and save the deployment record."""
    net = resolve_network(network)
    if rpc_url:
        net = replace(net, rpc_url=rpc_url)
    conn = Connection(net)
    return deploy_market(conn, resolve_signer(net, account), owner=owner)


def main() -> Deployment:
    """Entry point of `brownie run scripts/deploy.py --network NAME`."""
    from brownie import network, web3

    record = deploy(network.show_active(), rpc_url=web3.provider.endpoint_uri)
    print(json.dumps(asdict(record)))
    return record


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Deploy MagnetMarket.")
    parser.add_argument("--network", default="devnet", help="devnet, hooti-testnet, hooti or a URL")
    parser.add_argument("--account", default=None, help="keystore account name")
    parser.add_argument("--owner", default=None, help="owner address (default: deployer)")
    args = parser.parse_args()
    print(json.dumps(asdict(deploy(args.network, account=args.account, owner=args.owner))))
