"""OpenZeppelin ``StandardMerkleTree`` for credits, byte-compatible with its JS library.

Leaves are ``(address account, uint256 amount)``, hashed as
``keccak256(keccak256(abi.encode(account, amount)))`` (double hashing defends against
second-preimage attacks with 64-byte leaves), sorted ascending by hash, laid out as a complete
binary tree in an array (root at 0), with sorted-pair node hashing. The contract verifies proofs
with ``MerkleProof.verifyCalldata``; ``dump()`` is the ``standard-v1`` JSON the JS library loads,
so anyone can check our trees with ``StandardMerkleTree.load``.

Reference: https://github.com/OpenZeppelin/merkle-tree (``src/core.ts``, ``src/standard.ts``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

LEAF_ENCODING = ("address", "uint256")


def leaf_hash(account: str, amount: int) -> bytes:
    """The contract's leaf: keccak256(bytes.concat(keccak256(abi.encode(account, amount))))."""
    return keccak(keccak(abi_encode(list(LEAF_ENCODING), [account, amount])))


def node_hash(a: bytes, b: bytes) -> bytes:
    """Commutative pair hash, as OpenZeppelin's ``MerkleProof``."""
    return keccak(min(a, b) + max(a, b))


@dataclass(frozen=True)
class CreditTree:
    """A Merkle tree of credits; build it with :meth:`of`."""

    values: tuple[tuple[str, int], ...]
    tree: tuple[bytes, ...]
    tree_index: tuple[int, ...]  # tree_index[i]: position of values[i]'s leaf in `tree`

    @classmethod
    def of(cls, credits: Sequence[tuple[str, int]]) -> CreditTree:
        """Build the tree of ``(account, amount)`` pairs, exactly as ``StandardMerkleTree.of``."""
        if not credits:
            raise ValueError("a credit tree needs at least one (account, amount) pair")
        values = tuple((to_checksum_address(a), int(v)) for a, v in credits)
        if len({a for a, _ in values}) != len(values):
            raise ValueError("each account may appear once in a credit tree: sum its credits first")
        for account, amount in values:
            if not 0 <= amount < 2**256:
                raise ValueError(f"credit for {account} is not a uint256: {amount}")
        hashed = sorted((leaf_hash(a, v), i) for i, (a, v) in enumerate(values))
        n = len(hashed)
        tree: list[bytes] = [b""] * (2 * n - 1)
        tree_index = [0] * n
        for position, (h, value_index) in enumerate(hashed):
            tree[len(tree) - 1 - position] = h
            tree_index[value_index] = len(tree) - 1 - position
        for i in range(len(tree) - 1 - n, -1, -1):
            tree[i] = node_hash(tree[2 * i + 1], tree[2 * i + 2])
        return cls(values=values, tree=tuple(tree), tree_index=tuple(tree_index))

    @property
    def root(self) -> bytes:
        """The 32-byte root posted on chain."""
        return self.tree[0]

    @property
    def total(self) -> int:
        """The sum of the credits: the ``totalCredited`` posted with the root."""
        return sum(amount for _, amount in self.values)

    def proof(self, account: str) -> list[bytes]:
        """Sibling hashes from ``account``'s leaf to the root."""
        account = to_checksum_address(account)
        for (a, _), index in zip(self.values, self.tree_index, strict=True):
            if a == account:
                return self._proof_at(index)
        raise KeyError(f"{account} has no credit in this tree")

    def amount(self, account: str) -> int:
        """The credit of ``account`` (0 if it has none)."""
        return dict(self.values).get(to_checksum_address(account), 0)

    def _proof_at(self, index: int) -> list[bytes]:
        proof = []
        while index > 0:
            sibling = index - 1 if index % 2 == 0 else index + 1
            proof.append(self.tree[sibling])
            index = (index - 1) // 2
        return proof

    def dump(self) -> dict[str, Any]:
        """The ``standard-v1`` JSON that OpenZeppelin's ``StandardMerkleTree.load`` accepts."""
        return {
            "format": "standard-v1",
            "leafEncoding": list(LEAF_ENCODING),
            "tree": ["0x" + h.hex() for h in self.tree],
            "values": [
                {"value": [a, str(v)], "treeIndex": i}
                for (a, v), i in zip(self.values, self.tree_index, strict=True)
            ],
        }

    @classmethod
    def load(cls, dump: dict[str, Any]) -> CreditTree:
        """Rebuild from a ``standard-v1`` dump, checking that it is internally consistent."""
        if dump.get("format") != "standard-v1" or list(dump.get("leafEncoding", [])) != list(
            LEAF_ENCODING
        ):
            raise ValueError("not a standard-v1 (address, uint256) Merkle tree dump")
        rebuilt = cls.of([(v["value"][0], int(v["value"][1])) for v in dump["values"]])
        if ["0x" + h.hex() for h in rebuilt.tree] != dump["tree"]:
            raise ValueError("Merkle tree dump does not match its values")
        return rebuilt


def verify(root: bytes, account: str, amount: int, proof: Sequence[bytes]) -> bool:
    """Check a proof the way the contract does."""
    h = leaf_hash(account, amount)
    for sibling in proof:
        h = node_hash(h, sibling)
    return h == root
