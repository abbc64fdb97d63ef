"""A session: one network, one account, one content store, opened once and shared by the roles.

Every command, the dashboard and the demo hold a :class:`Session` and ask it for what they need;
each part is made on first use, so a read-only command never asks for a key and a chain command
never opens a store. The session is the application layer's only door to the adapters: the
interface above it never builds a connection, a client or a store itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from eth_account.signers.local import LocalAccount

from magnet_market.chain.accounts import resolve_signer
from magnet_market.chain.client import MarketClient
from magnet_market.chain.connection import Connection
from magnet_market.chain.deploy import Deployment, find_deployment
from magnet_market.chain.event_cache import EventCache, cache_path
from magnet_market.chain.events import EventReader
from magnet_market.config import Network, magnet_home, resolve_network
from magnet_market.errors import ConfigError
from magnet_market.storage import ContentStore, KuboStore, LocalStore


@dataclass(frozen=True)
class SessionSettings:
    """What a user chooses: where the chain and the content are, and who signs.

    Args:
        network: ``devnet``, ``hooti-testnet``, ``hooti`` or an ``http(s)://`` RPC URL.
        account: keystore account name (or ``devnet:N``); ``None``: ``MAGNET_PRIVATE_KEY``, then
            devnet account 0 on the devnet.
        ipfs_api: an IPFS node's RPC URL (Kubo); ``None``: the embedded store.
        store_path: the embedded store's folder; ``None``: ``$MAGNET_HOME/ipfs``.
        store_timeout: seconds to wait for the IPFS node per read.
    """

    network: str = "devnet"
    account: str | None = None
    ipfs_api: str | None = None
    store_path: Path | None = None
    store_timeout: float = 30.0


def open_store(
    ipfs_api: str | None = None, store_path: Path | None = None, timeout: float = 30.0
) -> ContentStore:
    """The node at ``ipfs_api`` if given, else the embedded :class:`LocalStore`."""
    return KuboStore(ipfs_api, timeout=timeout) if ipfs_api else LocalStore(store_path)


@dataclass
class Session:
    """The chain, the market, the signer and the store of one user, each opened on first use.

    Build one with :meth:`open` (from settings) or directly from parts a caller already holds
    (the demo's fresh devnet, a test's market): then the given parts are used as they are.
    """

    settings: SessionSettings = field(default_factory=SessionSettings)
    given_signer: LocalAccount | None = None
    given_store: ContentStore | None = None
    given_market: MarketClient | None = None
    given_from_block: int | None = None
    read_only: bool = False

    @classmethod
    def open(
        cls,
        network: str = "devnet",
        account: str | None = None,
        *,
        ipfs_api: str | None = None,
        store_path: Path | None = None,
        store_timeout: float = 30.0,
    ) -> Session:
        """A session for these settings (nothing is contacted until it is needed)."""
        return cls(SessionSettings(network, account, ipfs_api, store_path, store_timeout))

    @classmethod
    def of_market(
        cls,
        market: MarketClient,
        store: ContentStore | None = None,
        from_block: int = 0,
    ) -> Session:
        """A session over a market client a caller already holds (its signer, if any, signs)."""
        return cls(
            SessionSettings(market.connection.network.name),
            given_signer=market.signer,
            given_store=store,
            given_market=MarketClient(market.connection, market.address),
            given_from_block=from_block,
            read_only=market.signer is None,
        )

    # ───────────────────────────────────────────────────────── the chain

    @cached_property
    def network(self) -> Network:
        """The configured network (name, RPC URL, expected chain id)."""
        if self.given_market is not None:
            return self.given_market.connection.network
        return resolve_network(self.settings.network)

    @cached_property
    def connection(self) -> Connection:
        """A connection whose chain id has been checked against the network's."""
        if self.given_market is not None:
            return self.given_market.connection
        conn = Connection(self.network)
        _ = conn.chain_id
        return conn

    @cached_property
    def deployment(self) -> Deployment:
        """The market of this network (``MAGNET_MARKET_ADDRESS`` or the saved record)."""
        return find_deployment(self.connection)

    @cached_property
    def market(self) -> MarketClient:
        """A read-only client of the market."""
        if self.given_market is not None:
            return self.given_market
        return MarketClient(self.connection, self.deployment.address)

    @cached_property
    def from_block(self) -> int:
        """The market's deployment block, where event scans start."""
        if self.given_from_block is not None:
            return self.given_from_block
        return self.deployment.block

    @cached_property
    def signer(self) -> LocalAccount:
        """The account that signs (keystore, ``MAGNET_PRIVATE_KEY`` or a devnet key)."""
        if self.given_signer is not None:
            return self.given_signer
        if self.read_only:
            raise ConfigError("this session is read-only: it has no signing account")
        return resolve_signer(self.network, self.settings.account)

    @property
    def address(self) -> str:
        """The signing account's address."""
        return self.signer.address

    @cached_property
    def signing_market(self) -> MarketClient:
        """The market client that signs as :attr:`signer`."""
        return self.market.with_signer(self.signer)

    @cached_property
    def events(self) -> EventReader:
        """The market's events, scanned from its deployment block once and kept on disk
        (``$MAGNET_HOME/cache/events``): later reads, and later runs, read only new blocks."""
        market = self.market
        cache = EventCache(cache_path(market.connection.chain_id, market.address))
        confirmations = self.network.confirmations
        return EventReader(market, self.from_block, cache=cache, confirmations=confirmations)

    def head(self) -> int:
        """The chain's latest block number."""
        conn = self.connection
        return int(conn.rpc(lambda: conn.w3.eth.block_number))

    def chain_time(self) -> int:
        """The latest block's timestamp (the clock the contract's deadlines use)."""
        conn = self.connection
        return int(conn.rpc(lambda: conn.w3.eth.get_block("latest"))["timestamp"])

    def as_signer(self, account: LocalAccount) -> Session:
        """The same chain and store, signing as ``account``."""
        return Session(
            self.settings,
            given_signer=account,
            given_store=self.given_store,
            given_market=self.market,
            given_from_block=self.from_block,
        )

    # ───────────────────────────────────────────────────────── content

    @cached_property
    def store(self) -> ContentStore:
        """Where specs, checkpoints and reports are pinned and fetched."""
        if self.given_store is not None:
            return self.given_store
        settings = self.settings
        return open_store(settings.ipfs_api, settings.store_path, settings.store_timeout)

    def close(self) -> None:
        """Release what the session opened (an IPFS node's HTTP connections)."""
        store = self.__dict__.get("store")
        if isinstance(store, KuboStore) and store is not self.given_store:
            store.close()
        events = self.__dict__.get("events")
        if events is not None:
            events.cache.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def workdir(self, role: str) -> Path:
        """A role's default scratch folder, ``$MAGNET_HOME/work/<role>``."""
        return magnet_home() / "work" / role
