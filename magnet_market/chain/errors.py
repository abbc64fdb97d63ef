"""Chain-layer errors, including one named exception per custom error of the contract.

A revert of ``MagnetMarket`` surfaces as a subclass of :class:`ContractRevertError` named after
the Solidity error (``TaskNotFound``, ``ClaimWrongBond``, ...), carrying its decoded fields in
``.fields`` and the raw revert data in ``.data``. The classes are built from the committed ABI,
so a new error in ``IMagnetMarket.sol`` needs no Python edit::

    from magnet_market.chain.errors import ClaimWrongBond
    try:
        client.claim(task_id, value=1)
    except ClaimWrongBond as e:
        print(e.fields["required"])
"""

from __future__ import annotations

from typing import Any, ClassVar

from eth_abi import decode as abi_decode
from eth_utils import keccak, to_checksum_address

from magnet_market.errors import MagnetError


class ChainError(MagnetError):
    """Base class of chain-layer errors."""


class CompileError(ChainError, RuntimeError):
    """The Solidity compiler rejected the sources or could not run."""


class RPCUnavailableError(ChainError, ConnectionError):
    """The node at the RPC URL does not answer."""


class ChainIdMismatchError(ChainError, ValueError):
    """The node's chain id differs from the configured one: refuse to sign for the wrong chain."""


class DeploymentNotFoundError(ChainError, LookupError):
    """No deployment record for this network, or no contract code at the recorded address."""


class TransactionTimeoutError(ChainError, TimeoutError):
    """A sent transaction was not mined within the timeout."""


class DevnetError(ChainError, RuntimeError):
    """The local anvil node could not start or died."""


class ContractRevertError(ChainError):
    """A contract call or transaction reverted.

    Attributes:
        name: the Solidity error name (``"Error"`` for ``require`` strings, ``"Panic"``).
        fields: decoded error arguments by name.
        data: raw revert data (selector + ABI-encoded arguments).
    """

    def __init__(self, name: str, fields: dict[str, Any], data: bytes) -> None:
        self.name = name
        self.fields = fields
        self.data = data
        detail = ", ".join(f"{k}={_short(v)}" for k, v in fields.items())
        super().__init__(f"{name}({detail})")


class UnknownRevertError(ContractRevertError):
    """Revert data that matches no known error selector (or no data at all)."""


def _short(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)


def _signature(entry: dict[str, Any]) -> str:
    return f"{entry['name']}({','.join(_canonical_type(i) for i in entry['inputs'])})"


def _canonical_type(param: dict[str, Any]) -> str:
    if param["type"].startswith("tuple"):
        inner = ",".join(_canonical_type(c) for c in param["components"])
        return f"({inner}){param['type'][5:]}"
    return param["type"]


class RevertDecoder:
    """Maps revert data to named exceptions, using the error entries of an ABI."""

    _builtin: ClassVar[dict[bytes, tuple[str, list[str], list[str]]]] = {
        keccak(text="Error(string)")[:4]: ("Error", ["message"], ["string"]),
        keccak(text="Panic(uint256)")[:4]: ("Panic", ["code"], ["uint256"]),
    }

    def __init__(self, abi: list[dict[str, Any]]) -> None:
        self._by_selector: dict[bytes, tuple[str, list[str], list[str]]] = dict(self._builtin)
        for entry in abi:
            if entry.get("type") == "error":
                selector = keccak(text=_signature(entry))[:4]
                names = [i["name"] for i in entry["inputs"]]
                types = [_canonical_type(i) for i in entry["inputs"]]
                self._by_selector[selector] = (entry["name"], names, types)
                exception_class(entry["name"])

    def decode(self, data: bytes) -> ContractRevertError:
        """The named exception for ``data``; :class:`UnknownRevertError` when unknown."""
        known = self._by_selector.get(bytes(data[:4]))
        if known is None:
            return UnknownRevertError("UnknownRevert", {"data": bytes(data)}, bytes(data))
        name, names, types = known
        values = [
            to_checksum_address(v) if t == "address" else v
            for t, v in zip(types, abi_decode(types, bytes(data[4:])), strict=True)
        ]
        return exception_class(name)(name, dict(zip(names, values, strict=True)), bytes(data))


_classes: dict[str, type[ContractRevertError]] = {}


def exception_class(name: str) -> type[ContractRevertError]:
    """The exception class for Solidity error ``name``, created on first use."""
    if name not in _classes:
        _classes[name] = type(name, (ContractRevertError,), {"__module__": __name__})
    return _classes[name]


def __getattr__(name: str) -> type[ContractRevertError]:
    """``from magnet_market.chain.errors import TaskNotFound`` for any error in the ABI."""
    from magnet_market.chain.artifacts import load_artifact

    if name.startswith("_"):
        raise AttributeError(name)
    abi_errors = {
        e["name"]
        for artifact in ("MagnetMarket", "ReentrantReceiver")
        for e in load_artifact(artifact).abi
        if e.get("type") == "error"
    }
    if name in abi_errors or name in ("Error", "Panic"):
        return exception_class(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
