"""Chain-layer errors, including one declared exception per custom error of the contract.

A revert of ``MagnetMarket`` surfaces as the subclass of :class:`ContractRevertError` named after
the Solidity error (``TaskNotFound``, ``ClaimWrongBond``, ...), carrying its decoded fields in
``.fields`` and the raw revert data in ``.data``. Every error of the committed ABI has a class
here (a test fails when the ABI and this module disagree), so editors and type checkers see them::

    from magnet_market.chain.errors import ClaimWrongBond
    try:
        client.claim(task_id, bond=1)
    except ClaimWrongBond as e:
        print(e.fields["required"])
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

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


class LogQueryRefusedError(ChainError):
    """The node refuses ``eth_getLogs`` even for a single block."""


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


# ───────────────────────────────────────── Solidity's built-in errors


class Error(ContractRevertError):
    """``require(cond, "message")`` or ``revert("message")``, e.g. in a contract receiving ether."""


class Panic(ContractRevertError):
    """A Solidity panic (failed ``assert``, arithmetic overflow, ...), with its ``code``."""


# ───────────────────────────────────────── IMagnetMarket.sol: tasks and escrow


class TaskNotFound(ContractRevertError):
    """Any call naming a task id that was never created."""


class TaskNotOpen(ContractRevertError):
    """A fund, claim, commit, reveal, post, challenge, slash or close of a closed task."""


class TaskInvalidParameter(ContractRevertError):
    """``createTask`` got ``parameter`` out of bounds (or ``postRound`` credits with no root)."""


class TaskNotClosed(ContractRevertError):
    """``claimRefund`` or ``releaseBond`` before the task is closed."""


class TaskNotCoordinator(ContractRevertError):
    """``postRound`` or ``slash`` from a ``caller`` other than the task's coordinator."""


class TaskNotClosable(ContractRevertError):
    """``closeTask`` while a challenge is pending or possible, or rounds are still due in time."""


class TaskBelowFloor(ContractRevertError):
    """``createTask`` with a phase length or claim bond below the market's floor for it."""


class TaskFundingClosed(ContractRevertError):
    """``fund`` after every round of the task is posted."""


class TaskFundingWaitsForChallenges(ContractRevertError):
    """``fund`` while a posted round of the task can still be challenged."""


class EscrowZeroAmount(ContractRevertError):
    """``createTask`` or ``fund`` sent no value."""


class EscrowFundingTooSmall(ContractRevertError):
    """``fund`` with too little to buy one share of the task's escrow at its current value."""


class EscrowInsufficientFunds(ContractRevertError):
    """``postRound`` credits over the round's escrow share, or a reward claim over what is left."""


# ───────────────────────────────────────── IMagnetMarket.sol: slots, submissions, challenges


class ClaimWrongBond(ContractRevertError):
    """``claim`` sent a value (``sent``) other than the task's claim bond (``required``)."""


class ClaimAlreadyJoined(ContractRevertError):
    """``claim`` by a ``contributor`` that already holds a slot in the task."""


class ClaimTaskFull(ContractRevertError):
    """``claim`` when all ``maxContributors`` slots of the task are taken."""


class ClaimNotContributor(ContractRevertError):
    """A commit, reward claim or slash for an ``account`` that holds no slot in the task."""


class RoundWrongPhase(ContractRevertError):
    """The round is in ``phase``, not the one the action needs (e.g. a reveal while submitting)."""


class SubmissionZeroCommitment(ContractRevertError):
    """``commitSubmission`` with a zero commitment (it would count as a commit)."""


class SubmissionAlreadyCommitted(ContractRevertError):
    """``commitSubmission`` a second time in the same round."""


class SubmissionNotCommitted(ContractRevertError):
    """``revealSubmission`` without a commitment in this round."""


class SubmissionAlreadyRevealed(ContractRevertError):
    """``revealSubmission`` a second time in the same round."""


class SubmissionCommitmentMismatch(ContractRevertError):
    """The revealed CID, metric and salt hash to ``actual``, not the committed ``expected``."""


class SubmissionEmptyCID(ContractRevertError):
    """``revealSubmission`` or ``postRound`` with an empty CID."""


# ───────────────────────────────────────── IMagnetMarket.sol: disputes, validators, stakes


class DisputeAlreadyJoined(ContractRevertError):
    """The ``account`` already challenged (or already voted in) this round's dispute."""


class DisputeNotOpen(ContractRevertError):
    """No dispute of the round takes challenges or votes now (or none to resolve)."""


class DisputeVoteRunning(ContractRevertError):
    """``resolveDispute`` or a payout before the vote closes at ``voteDeadline``."""


class DisputeWrongBond(ContractRevertError):
    """A challenge or vote sent a value (``sent``) other than the dispute's bond (``required``)."""


class VoterNotEligible(ContractRevertError):
    """``vote`` from an ``account`` not on the panel, or staked after the dispute opened."""


class ValidatorAlreadyStaked(ContractRevertError):
    """``stakeValidator`` from an ``account`` already on the panel."""


class ValidatorNotStaked(ContractRevertError):
    """``unstakeValidator`` from an ``account`` not on the panel."""


class ValidatorWrongStake(ContractRevertError):
    """``stakeValidator`` sent ``sent`` instead of the market's validator stake ``required``."""


class CoordinatorStakeTooLow(ContractRevertError):
    """``postRound`` while the coordinator's stake (``staked``) is below what the round needs."""


class RewardClaimExpired(ContractRevertError):
    """``claimReward`` after the round's claim window closed at ``expiredAt``."""


class RewardClaimWindowOpen(ContractRevertError):
    """``expireCredits`` before the round's claim window closes at ``expiresAt``."""


class RewardNotRevealed(ContractRevertError):
    """``claimReward`` for an ``account`` that revealed nothing in the round: its credit expires."""


class SlashNotRevertible(ContractRevertError):
    """``revertSlash`` of a round not overturned or voided, or with nothing left to revert."""


class MarketIsPaused(ContractRevertError):
    """An action that moves money or time while the market is paused (or ``pause`` twice)."""


class MarketNotPaused(ContractRevertError):
    """``unpause`` while the market is not paused."""


class PauseCoolingDown(ContractRevertError):
    """``pause`` before the cool-down after the last pause ends at ``readyAt``."""


# ───────────────────────────────────────── IMagnetMarket.sol: rewards, slashes, payments


class RewardInvalidProof(ContractRevertError):
    """``claimReward``'s proof does not prove (``account``, ``amount``) under the round's root."""


class RewardAlreadyClaimed(ContractRevertError):
    """``claimReward`` for an ``account`` whose reward of this round is already booked."""


class SlashAlreadyApplied(ContractRevertError):
    """``postRound`` slashing a ``contributor`` twice for one ``reason`` in the round."""


class SlashNotJustified(ContractRevertError):
    """A posted slash whose condition fails, e.g. a timeout of a contributor who revealed."""


class NothingToPay(ContractRevertError):
    """``withdraw``, ``claimRefund``, ``releaseBond`` or ``claimReward`` with nothing to pay."""


class OwnershipCannotBeRenounced(ContractRevertError):
    """``renounceOwnership``, always: nobody could settle a challenge after it."""


class TransferFailed(ContractRevertError):
    """``withdraw`` could not send ``amount``: the receiving ``account`` refused the ether."""


class HoldoutNotSealed(ContractRevertError):
    """``revealHoldout`` on a task without a sealed holdout."""


class HoldoutKeyMismatch(ContractRevertError):
    """``revealHoldout`` with a key that does not hash back to the chain's last key or head."""


# ───────────────────────────────────────── OpenZeppelin: ownership, reentrancy


class OwnableUnauthorizedAccount(ContractRevertError):
    """An owner-only call (pause, unpause, transferOwnership) from ``account``."""


class OwnableInvalidOwner(ContractRevertError):
    """Deploying the market with the zero address as its owner."""


class ReentrancyGuardReentrantCall(ContractRevertError):
    """A call re-entering ``withdraw`` while it sends ether."""


SOLIDITY_ERRORS: Final[dict[str, type[ContractRevertError]]] = {
    cls.__name__: cls
    for cls in ContractRevertError.__subclasses__()
    if cls is not UnknownRevertError
}
"""The class the decoder raises for each Solidity error name: each direct subclass declared above,
except :class:`UnknownRevertError` (a family base would hide its members here)."""


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


class _ErrorLayout(NamedTuple):
    """How to decode one error selector, and which exception to raise."""

    exception: type[ContractRevertError]
    name: str
    field_names: list[str]
    types: list[str]


_BUILTIN_ABI: Final[list[dict[str, Any]]] = [
    {"type": "error", "name": "Error", "inputs": [{"name": "message", "type": "string"}]},
    {"type": "error", "name": "Panic", "inputs": [{"name": "code", "type": "uint256"}]},
]


class RevertDecoder:
    """Maps revert data to named exceptions, using the error entries of an ABI.

    An ABI error without a declared class (another contract's ABI) decodes to a plain
    :class:`ContractRevertError` that still carries its name and fields.
    """

    def __init__(self, abi: list[dict[str, Any]]) -> None:
        self._by_selector: dict[bytes, _ErrorLayout] = {}
        for entry in [*_BUILTIN_ABI, *abi]:
            if entry.get("type") == "error":
                self._by_selector[keccak(text=_signature(entry))[:4]] = _ErrorLayout(
                    SOLIDITY_ERRORS.get(entry["name"], ContractRevertError),
                    entry["name"],
                    [i["name"] for i in entry["inputs"]],
                    [_canonical_type(i) for i in entry["inputs"]],
                )

    def decode(self, data: bytes) -> ContractRevertError:
        """The named exception for ``data``; :class:`UnknownRevertError` when unknown."""
        layout = self._by_selector.get(bytes(data[:4]))
        if layout is None:
            return UnknownRevertError("UnknownRevert", {"data": bytes(data)}, bytes(data))
        values = [
            to_checksum_address(v) if t == "address" else v
            for t, v in zip(layout.types, abi_decode(layout.types, bytes(data[4:])), strict=True)
        ]
        fields = dict(zip(layout.field_names, values, strict=True))
        return layout.exception(layout.name, fields, bytes(data))
