"""Where things are and which chain to talk to: networks, paths and keys from env and files.

Networks by name:

* ``devnet`` — the local anvil node ``magnet devnet`` starts (the embedded default);
  RPC ``MAGNET_DEVNET_URL`` or ``http://127.0.0.1:8545``, chain id 31337.
* ``hooti-testnet`` / ``hooti`` — RPC URL and chain id from ``MAGNET_RPC_URL`` and
  ``MAGNET_CHAIN_ID`` (both required: we never guess a public chain).
* any ``http(s)://`` URL — chain id from ``MAGNET_CHAIN_ID`` if set, else taken from the node.

``MAGNET_CONFIRMATIONS`` sets how many blocks must follow one before the roles act on its events
(default 0 on the devnet and a bare URL, :data:`PUBLIC_CONFIRMATIONS` on HOOTi).

Keys never live in code: ``MAGNET_PRIVATE_KEY`` or an encrypted keystore in
``$MAGNET_HOME/keystore`` (see :mod:`magnet_market.chain.accounts`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from magnet_market.errors import ConfigError

DEVNET_CHAIN_ID = 31337
DEVNET_DEFAULT_URL = "http://127.0.0.1:8545"
PUBLIC_NETWORKS = ("hooti-testnet", "hooti")
#: Confirmations on the named public networks unless ``MAGNET_CONFIRMATIONS`` says otherwise.
PUBLIC_CONFIRMATIONS = 3


def magnet_home() -> Path:
    """Root of the user's MAGNET state (``MAGNET_HOME``, default ``~/.magnet``)."""
    return Path(os.environ.get("MAGNET_HOME", Path.home() / ".magnet")).expanduser()


@dataclass(frozen=True)
class Network:
    """A chain to talk to.

    Args:
        name: ``devnet``, ``hooti-testnet``, ``hooti`` or the URL itself.
        rpc_url: JSON-RPC endpoint.
        chain_id: expected chain id; ``None`` accepts the node's (only for bare URLs).
        confirmations: blocks that must follow one before its events are acted on (and cached).
    """

    name: str
    rpc_url: str
    chain_id: int | None
    confirmations: int = 0

    @property
    def is_devnet(self) -> bool:
        """True for the local devnet, the only network where well-known test keys are allowed."""
        return self.name == "devnet"

    @property
    def slug(self) -> str:
        """A file-name-safe identifier for deployment records."""
        return "".join(c if c.isalnum() or c in "-_" else "_" for c in self.name)


def resolve_network(name: str | None = None) -> Network:
    """Turn a network name or URL (default ``MAGNET_NETWORK`` or ``devnet``) into a Network."""
    name = name or os.environ.get("MAGNET_NETWORK") or "devnet"
    if name == "devnet":
        url = os.environ.get("MAGNET_DEVNET_URL", DEVNET_DEFAULT_URL)
        return Network("devnet", url, DEVNET_CHAIN_ID, _confirmations_from_env(0))
    if name in PUBLIC_NETWORKS:
        rpc_url = os.environ.get("MAGNET_RPC_URL")
        if not rpc_url:
            raise ConfigError(f"network {name!r} needs MAGNET_RPC_URL (the node's JSON-RPC URL)")
        chain_id = _chain_id_from_env(required_for=name)
        return Network(name, rpc_url, chain_id, _confirmations_from_env(PUBLIC_CONFIRMATIONS))
    if name.startswith(("http://", "https://")):
        chain_id = _chain_id_from_env(required_for=None)
        return Network(name, name, chain_id, _confirmations_from_env(0))
    raise ConfigError(
        f"unknown network {name!r}: use devnet, {', '.join(PUBLIC_NETWORKS)} or an http(s):// URL"
    )


def _chain_id_from_env(required_for: str | None) -> int | None:
    raw = os.environ.get("MAGNET_CHAIN_ID")
    if raw is None:
        if required_for:
            raise ConfigError(f"network {required_for!r} needs MAGNET_CHAIN_ID (its chain id)")
        return None
    try:
        return int(raw, 0)
    except ValueError:
        raise ConfigError(f"MAGNET_CHAIN_ID must be an integer, got {raw!r}") from None


def _confirmations_from_env(default: int) -> int:
    raw = os.environ.get("MAGNET_CONFIRMATIONS")
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise ConfigError(f"MAGNET_CONFIRMATIONS must be a whole number >= 0, got {raw!r}")
    return value
