"""Deploy ``MagnetMarket`` and keep a record of where it lives.

This is the one deploy routine: ``magnet deploy``, ``python scripts/deploy.py`` and
``brownie run scripts/deploy.py`` all end here.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from magnet_market._atomic import write_atomic
from magnet_market.chain.artifacts import load_artifact
from magnet_market.chain.client import MarketClient
from magnet_market.chain.connection import Connection
from magnet_market.chain.errors import ChainError, DeploymentNotFoundError
from magnet_market.chain.types import DEVNET_FLOORS, DEVNET_RULES, Floors, MarketRules
from magnet_market.config import Network, magnet_home

if TYPE_CHECKING:  # eth_typing comes with web3; only its types are used here
    from eth_typing import ChecksumAddress


@dataclass(frozen=True)
class Deployment:
    """Where a market was deployed, by whom, from which bytecode."""

    network: str
    chain_id: int
    address: ChecksumAddress  # as written by deploy_market (or checksummed from the override)
    block: int
    tx_hash: str
    deployer: str
    owner: str
    artifact_digest: str

    def save(self, path: Path) -> None:
        """Write the record atomically as JSON."""
        write_atomic(path, json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> Deployment:
        """Read a record written by :meth:`save`."""
        return cls(**json.loads(path.read_text()))


def deployment_path(network: Network, chain_id: int) -> Path:
    """``$MAGNET_HOME/deployments/<network>-<chain id>.json``."""
    return magnet_home() / "deployments" / f"{network.slug}-{chain_id}.json"


def deploy_market(
    connection: Connection,
    deployer: LocalAccount,
    owner: str | None = None,
    save: bool = True,
    floors: Floors | None = None,
    rules: MarketRules | None = None,
) -> Deployment:
    """Deploy a new market owned by ``owner`` (default: the deployer) and record it.

    Args:
        connection: a checked connection (its chain id must match the network's).
        deployer: the signing account paying for the deployment.
        owner: the holder of the pause switch; use a multisig on public chains.
        save: write the deployment record under ``$MAGNET_HOME/deployments``.
        floors: the least every task must give; default: :data:`DEVNET_FLOORS` on the devnet
            (rounds of seconds), the public defaults (:class:`Floors`) anywhere else.
        rules: claim window, vote window, validator stake, quorum and coordinator stake;
            default: :data:`DEVNET_RULES` on the devnet, :class:`MarketRules` anywhere else.
    """
    devnet = connection.network.is_devnet
    if floors is None:
        floors = DEVNET_FLOORS if devnet else Floors()
    if rules is None:
        rules = DEVNET_RULES if devnet else MarketRules()
    artifact = load_artifact("MagnetMarket")
    owner = to_checksum_address(owner or deployer.address)
    factory = connection.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    client = MarketClient(connection, "0x" + "00" * 20, deployer)
    receipt = client.transact(factory.constructor(owner, floors.as_tuple(), rules.as_tuple()))
    address = receipt["contractAddress"]
    if address is None:
        raise ChainError(
            f"deployment 0x{bytes(receipt['transactionHash']).hex()} was mined "
            "without creating a contract"
        )
    record = Deployment(
        network=connection.network.name,
        chain_id=connection.chain_id,
        address=to_checksum_address(address),
        block=int(receipt["blockNumber"]),
        tx_hash="0x" + bytes(receipt["transactionHash"]).hex(),
        deployer=deployer.address,
        owner=owner,
        artifact_digest=artifact.digest,
    )
    if save:
        record.save(deployment_path(connection.network, record.chain_id))
    return record


def find_deployment(connection: Connection) -> Deployment:
    """The market of this network (``MAGNET_MARKET_ADDRESS`` or the saved record), code checked."""
    chain_id = connection.chain_id
    override = os.environ.get("MAGNET_MARKET_ADDRESS")
    if override:
        address = to_checksum_address(override)
        _require_code(connection, address)
        block = MarketClient(connection, address).deployment_block()
        return Deployment(connection.network.name, chain_id, address, block or 0, "", "", "", "")
    path = deployment_path(connection.network, chain_id)
    if not path.is_file():
        raise DeploymentNotFoundError(
            f"no market deployed on {connection.network.name} (chain {chain_id}) yet: "
            f"run `magnet deploy --network {connection.network.name}` "
            "or set MAGNET_MARKET_ADDRESS"
        )
    record = Deployment.load(path)
    _require_code(connection, record.address)
    return record


def _require_code(connection: Connection, address: ChecksumAddress) -> None:
    code = connection.rpc(lambda: connection.w3.eth.get_code(address))
    if not code:
        raise DeploymentNotFoundError(
            f"no contract code at {address} on {connection.network.name}: the chain was "
            "reset (devnet restarted without --state?) or the address is wrong; deploy again"
        )
