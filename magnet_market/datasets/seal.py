"""Sealing a holdout: one slice per round, each encrypted under a key of a hash chain.

The sponsor draws a random seed; ``keys[n-1] = seed`` and ``keys[r] = keccak256(keys[r+1])``.
The chain's head, ``keccak256(keys[0])``, goes on chain when the task is created. Round r's key
is revealed once round r's submissions are fixed, and the contract checks that it hashes back to
the last key it knows (or the head). Knowing ``keys[r]`` gives every earlier key and no later
one, so one on-chain slot holds the whole commitment, and a round whose reveal was missed is
unsealed by the next one.

Each slice is a Parquet file encrypted with AES-256-GCM under its round's key (pycryptodome).
A key encrypts one slice only, so the nonce is fixed; the tag authenticates the slice, so a wrong
key or a changed byte is refused instead of decrypted to garbage. Nothing here touches the chain:
the keys are plain bytes.
"""

from __future__ import annotations

import secrets

from Crypto.Cipher import AES
from eth_utils import keccak

from magnet_market.datasets.errors import DatasetError

KEY_BYTES = 32
#: One key encrypts one slice, so a fixed nonce never repeats under a key.
_NONCE = bytes(12)
_TAG_BYTES = 16


def new_seed() -> bytes:
    """A fresh secret seed for a key chain (the last round's key)."""
    return secrets.token_bytes(KEY_BYTES)


def key_chain(seed: bytes, rounds: int) -> list[bytes]:
    """The keys of rounds ``0..rounds-1``: each the keccak256 of the next, the last the seed."""
    if len(seed) != KEY_BYTES:
        raise DatasetError(f"a holdout seed is {KEY_BYTES} bytes, got {len(seed)}")
    if rounds < 1:
        raise DatasetError(f"a key chain needs at least one round, got {rounds}")
    keys = [seed]
    for _ in range(rounds - 1):
        keys.append(keccak(keys[-1]))
    return keys[::-1]


def chain_head(keys: list[bytes]) -> bytes:
    """What goes on chain: keccak256 of round 0's key."""
    return keccak(keys[0])


def earlier_key(key: bytes, from_round: int, to_round: int) -> bytes:
    """Round ``to_round``'s key from round ``from_round``'s (``to_round <= from_round``)."""
    if to_round > from_round:
        raise DatasetError(f"round {from_round}'s key cannot give round {to_round}'s (a later one)")
    for _ in range(from_round - to_round):
        key = keccak(key)
    return key


def links_to(key: bytes, round_: int, last_key: bytes, revealed_through: int) -> bool:
    """Whether ``key`` is round ``round_``'s key, as the contract checks it: hashed once per round
    from ``revealed_through`` (the first round without a key on chain) to ``round_``, it gives
    ``last_key`` (the last key on chain, or the head)."""
    if round_ < revealed_through:
        return False
    return keccak(earlier_key(key, round_, revealed_through)) == last_key


def seal(plain: bytes, key: bytes) -> bytes:
    """``plain`` encrypted and authenticated under ``key``: ciphertext, then the 16-byte tag."""
    cipher = AES.new(_check_key(key), AES.MODE_GCM, nonce=_NONCE)
    body, tag = cipher.encrypt_and_digest(plain)
    return body + tag


def unseal(sealed: bytes, key: bytes, what: str) -> bytes:
    """The plaintext of a sealed slice, or a :class:`DatasetError` naming ``what`` when the key
    is not its key or a byte changed."""
    if len(sealed) < _TAG_BYTES:
        raise DatasetError(f"{what}: {len(sealed)} bytes is too short for a sealed slice")
    cipher = AES.new(_check_key(key), AES.MODE_GCM, nonce=_NONCE)
    try:
        return cipher.decrypt_and_verify(sealed[:-_TAG_BYTES], sealed[-_TAG_BYTES:])
    except ValueError:
        raise DatasetError(
            f"{what}: does not open with this key (a wrong key, or the slice was altered)"
        ) from None


def _check_key(key: bytes) -> bytes:
    if len(key) != KEY_BYTES:
        raise DatasetError(f"a holdout key is {KEY_BYTES} bytes, got {len(key)}")
    return key
