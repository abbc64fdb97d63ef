"""Signing accounts: encrypted keystores, ``MAGNET_PRIVATE_KEY``, or the devnet's test keys.

Private keys never appear in code, logs or error messages. The devnet's well-known accounts
(derived from anvil's public test mnemonic) are refused on any other network.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from magnet_market._atomic import write_atomic
from magnet_market.config import Network, magnet_home
from magnet_market.errors import ConfigError

#: anvil's public test mnemonic: its keys are known to everyone, so they are for the devnet only.
DEVNET_MNEMONIC = "test test test test test test test test test test test junk"
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

Account.enable_unaudited_hdwallet_features()


@cache
def devnet_account(index: int = 0) -> LocalAccount:
    """Dev account ``index`` of the devnet (funded by anvil at start)."""
    return Account.from_mnemonic(DEVNET_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")


def keystore_dir() -> Path:
    """Folder of encrypted keystores (``$MAGNET_HOME/keystore``)."""
    return magnet_home() / "keystore"


class Keystore:
    """Named, password-encrypted key files (the standard Web3 Secret Storage format)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or keystore_dir()

    def path(self, name: str) -> Path:
        """File of account ``name``."""
        if not _NAME.match(name):
            raise ConfigError(f"account name {name!r} must be 1-64 of letters, digits, . _ -")
        return self.directory / f"{name}.json"

    def new(self, name: str, password: str) -> str:
        """Create a random key, store it encrypted, return its address."""
        return self._save(name, Account.create(), password)

    def import_key(self, name: str, private_key: str, password: str) -> str:
        """Store an existing private key encrypted, return its address."""
        try:
            account = Account.from_key(private_key)
        except (ValueError, TypeError):
            raise ConfigError("not a valid private key (expected 32 bytes of hex)") from None
        return self._save(name, account, password)

    def list(self) -> list[tuple[str, str]]:
        """``(name, address)`` of every stored account, sorted by name."""
        if not self.directory.is_dir():
            return []
        out: list[tuple[str, str]] = []
        for path in sorted(self.directory.glob("*.json")):
            address = json.loads(path.read_text()).get("address", "")
            out.append((path.stem, to_checksum_address("0x" + address.removeprefix("0x"))))
        return out

    def load(self, name: str, password: str) -> LocalAccount:
        """Decrypt account ``name``."""
        path = self.path(name)
        if not path.is_file():
            raise ConfigError(f"no account named {name!r} in {self.directory}")
        try:
            key = Account.decrypt(json.loads(path.read_text()), password)
        except ValueError:
            raise ConfigError(f"wrong password for account {name!r}") from None
        return Account.from_key(key)

    def _save(self, name: str, account: LocalAccount, password: str) -> str:
        path = self.path(name)
        if path.exists():
            raise ConfigError(f"account {name!r} already exists in {self.directory}")
        write_atomic(path, json.dumps(Account.encrypt(account.key, password)), mode=0o600)
        return account.address


def resolve_signer(
    network: Network,
    account: str | None = None,
    password: Callable[[], str] | None = None,
    devnet_index: int = 0,
) -> LocalAccount:
    """The account that signs, in order: keystore ``account``, ``MAGNET_PRIVATE_KEY``, devnet key.

    Args:
        network: where the transactions go; devnet keys are refused elsewhere.
        account: keystore name; also ``devnet:N`` for devnet account N.
        password: returns the keystore password (default: ``MAGNET_KEYSTORE_PASSWORD``).
        devnet_index: which devnet account to use when nothing else is configured.
    """
    if account and account.startswith("devnet:"):
        if not network.is_devnet:
            raise ConfigError("devnet test accounts are refused outside the devnet")
        return devnet_account(int(account.split(":", 1)[1]))
    if account:
        secret = password() if password else os.environ.get("MAGNET_KEYSTORE_PASSWORD")
        if secret is None:
            raise ConfigError(f"account {account!r} needs a password (MAGNET_KEYSTORE_PASSWORD)")
        return Keystore().load(account, secret)
    env_key = os.environ.get("MAGNET_PRIVATE_KEY")
    if env_key:
        try:
            return Account.from_key(env_key)
        except (ValueError, TypeError):
            raise ConfigError("MAGNET_PRIVATE_KEY is not a valid private key") from None
    if network.is_devnet:
        return devnet_account(devnet_index)
    raise ConfigError(
        f"no signing key for {network.name}: "
        "pass --account NAME (a keystore) or set MAGNET_PRIVATE_KEY"
    )
