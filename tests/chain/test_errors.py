"""The declared revert exceptions against the committed ABI, and the decoder that raises them.

No node needed: revert data is built here, as the contract would encode it.
"""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

from magnet_market.chain import errors
from magnet_market.chain.artifacts import ARTIFACTS_DIR, load_artifact
from magnet_market.chain.errors import (
    SOLIDITY_ERRORS,
    ClaimWrongBond,
    ContractRevertError,
    RevertDecoder,
    UnknownRevertError,
)

BUILTIN = {"Error", "Panic"}  # Solidity's own, in no ABI
ARTIFACTS = sorted(path.stem for path in ARTIFACTS_DIR.glob("*.json"))
ABI_ERRORS = [
    entry for name in ARTIFACTS for entry in load_artifact(name).abi if entry["type"] == "error"
]
SAMPLE = {
    "address": to_checksum_address("0x" + "ab" * 20),
    "bytes32": b"\x22" * 32,
    "string": "specCID",
    "uint8": 2,
    "uint32": 7,
    "uint256": 10**16,
}


def _revert_data(entry: dict[str, Any]) -> bytes:
    """What the contract returns when it reverts with ``entry``, filled with sample values."""
    types = [i["type"] for i in entry["inputs"]]
    selector = keccak(text=f"{entry['name']}({','.join(types)})")[:4]
    return selector + abi_encode(types, [SAMPLE[t] for t in types])


def test_every_abi_error_has_a_declared_class():
    missing = {e["name"] for e in ABI_ERRORS} - SOLIDITY_ERRORS.keys()
    assert not missing, f"declare these in magnet_market/chain/errors.py: {sorted(missing)}"


def test_every_declared_class_is_an_abi_error():
    stale = SOLIDITY_ERRORS.keys() - BUILTIN - {e["name"] for e in ABI_ERRORS}
    assert not stale, f"no longer in the contract ABI, remove: {sorted(stale)}"


@pytest.mark.parametrize("name", sorted(SOLIDITY_ERRORS))
def test_declared_classes_are_module_names_with_a_docstring(name):
    cls = SOLIDITY_ERRORS[name]
    assert getattr(errors, name) is cls and cls.__name__ == name
    assert issubclass(cls, ContractRevertError) and not issubclass(cls, UnknownRevertError)
    assert cls.__doc__ and "\n" not in cls.__doc__.strip(), f"{name}: one line saying when"


@pytest.mark.parametrize("entry", ABI_ERRORS, ids=lambda e: e["name"])
def test_decoder_raises_the_declared_class_with_the_abi_fields(entry):
    data = _revert_data(entry)
    error = RevertDecoder([entry]).decode(data)
    assert type(error) is SOLIDITY_ERRORS[entry["name"]]
    assert error.name == entry["name"]
    assert list(error.fields) == [i["name"] for i in entry["inputs"]]
    assert error.data == data


def test_a_revert_reads_as_the_solidity_error():
    data = keccak(text="ClaimWrongBond(uint256,uint256,uint256)")[:4] + abi_encode(
        ["uint256"] * 3, [1, 1, 10**16]
    )
    error = RevertDecoder(load_artifact().abi).decode(data)
    assert isinstance(error, ClaimWrongBond)
    assert str(error) == "ClaimWrongBond(taskId=1, sent=1, required=10000000000000000)"
    assert error.fields == {"taskId": 1, "sent": 1, "required": 10**16}
    assert error.data == data


def test_require_strings_and_panics_decode_to_their_classes():
    decoder = RevertDecoder([])
    refused = decoder.decode(keccak(text="Error(string)")[:4] + abi_encode(["string"], ["no"]))
    assert type(refused) is errors.Error and refused.fields == {"message": "no"}
    overflow = decoder.decode(keccak(text="Panic(uint256)")[:4] + abi_encode(["uint256"], [17]))
    assert type(overflow) is errors.Panic and str(overflow) == "Panic(code=17)"


@pytest.mark.parametrize("data", [b"", b"\xde\xad\xbe\xef", b"\xde\xad\xbe\xef" + bytes(32)])
def test_unknown_selectors_decode_to_unknown_revert(data):
    error = RevertDecoder(load_artifact().abi).decode(data)
    assert type(error) is UnknownRevertError
    assert error.fields == {"data": data} and error.data == data


def test_an_error_of_another_abi_keeps_its_name_and_fields():
    entry = {"type": "error", "name": "Foreign", "inputs": [{"name": "who", "type": "address"}]}
    error = RevertDecoder([entry]).decode(_revert_data(entry))
    assert type(error) is ContractRevertError
    assert str(error) == f"Foreign(who={SAMPLE['address']})"
