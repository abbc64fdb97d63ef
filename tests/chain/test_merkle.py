"""Our credit trees must be byte-identical to OpenZeppelin's StandardMerkleTree (its JS library)."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import pytest
from eth_utils import to_checksum_address

from magnet_market.chain.merkle import CreditTree, verify

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# Builds the same values with @openzeppelin/merkle-tree and prints root, dump and every proof.
JS = """
const { StandardMerkleTree } = require("@openzeppelin/merkle-tree");
const values = JSON.parse(require("fs").readFileSync(0, "utf8"));
const tree = StandardMerkleTree.of(values, ["address", "uint256"]);
const proofs = {};
for (const [i, v] of tree.entries()) proofs[v[0]] = tree.getProof(i);
console.log(JSON.stringify({ root: tree.root, dump: tree.dump(), proofs }));
"""


def _js_tree(values: list[tuple[str, int]]) -> dict:
    out = subprocess.run(
        ["node", "-e", JS],
        input=json.dumps([[a, str(v)] for a, v in values]),
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        check=True,
        timeout=60,
    )
    return json.loads(out.stdout)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 64, 100])
def test_tree_matches_openzeppelin_js(n):
    rng = random.Random(n)
    values = [(to_checksum_address(rng.randbytes(20)), rng.randrange(0, 10**24)) for _ in range(n)]
    ours = CreditTree.of(values)
    theirs = _js_tree(values)
    assert "0x" + ours.root.hex() == theirs["root"]
    assert ours.dump() == theirs["dump"]
    for account, amount in values:
        proof = ours.proof(account)
        assert ["0x" + p.hex() for p in proof] == theirs["proofs"][account]
        assert verify(ours.root, account, amount, proof)
        assert not verify(ours.root, account, amount + 1, proof)
    assert CreditTree.load(theirs["dump"]).root == ours.root


def test_tree_rejects_duplicates_empty_and_tampered_dumps():
    a = to_checksum_address("0x" + "11" * 20)
    with pytest.raises(ValueError, match="at least one"):
        CreditTree.of([])
    with pytest.raises(ValueError, match="once"):
        CreditTree.of([(a, 1), (a.lower(), 2)])
    with pytest.raises(ValueError, match="uint256"):
        CreditTree.of([(a, -1)])
    dump = CreditTree.of([(a, 5)]).dump()
    dump["values"][0]["value"][1] = "6"
    with pytest.raises(ValueError, match="does not match"):
        CreditTree.load(dump)
    with pytest.raises(KeyError):
        CreditTree.of([(a, 5)]).proof("0x" + "22" * 20)
