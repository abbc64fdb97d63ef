"""Typed client of the ``MagnetMarket`` contract.

Every write is signed locally (the key never leaves the process), priced with EIP-1559 fees
when the chain has a base fee, and waited for with a timeout. Every revert — at gas estimation,
in a mined transaction, or in a call — becomes the named exception of its custom error (see
:mod:`magnet_market.chain.errors`), carrying the error's fields.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes
from web3.contract.contract import ContractConstructor, ContractFunction
from web3.exceptions import ContractLogicError, TransactionNotFound
from web3.logs import DISCARD
from web3.types import TxParams, TxReceipt, Wei

from magnet_market.chain.artifacts import load_artifact
from magnet_market.chain.connection import Connection
from magnet_market.chain.errors import (
    ChainError,
    RevertDecoder,
    TransactionTimeoutError,
    UnknownRevertError,
)
from magnet_market.chain.types import (
    NO_HOLDOUT_TUPLE,
    DisputeInfo,
    Floors,
    HoldoutInfo,
    HoldoutTerms,
    MarketRules,
    RoundInfo,
    SlashOrder,
    SlashRates,
    TaskInfo,
    Timing,
)

T = TypeVar("T")


def commitment_for(
    task_id: int, round_: int, contributor: str, cid: str, claimed_metric: int, salt: bytes
) -> bytes:
    """The commitment ``commitSubmission`` expects (the contract's ``_commitmentFor``)."""
    encoded = abi_encode(
        ["uint256", "uint32", "address", "bytes32", "int256", "bytes32"],
        [task_id, round_, contributor, keccak(text=cid), claimed_metric, salt],
    )
    return keccak(encoded)


class MarketClient:
    """Reads and writes one deployed ``MagnetMarket``.

    Args:
        connection: a checked node connection.
        address: the contract's address.
        signer: the account that signs writes; ``None`` for a read-only client.
        receipt_timeout: seconds to wait for a transaction to be mined.
    """

    def __init__(
        self,
        connection: Connection,
        address: str,
        signer: LocalAccount | None = None,
        receipt_timeout: float = 120.0,
    ) -> None:
        self.connection = connection
        self.w3 = connection.w3
        self.address = to_checksum_address(address)
        self.signer = signer
        self.receipt_timeout = receipt_timeout
        abi = load_artifact("MagnetMarket").abi
        self.contract = self.w3.eth.contract(address=self.address, abi=abi)
        self.decoder = RevertDecoder(abi)

    def with_signer(self, signer: LocalAccount) -> MarketClient:
        """The same client signing as ``signer``."""
        return MarketClient(self.connection, self.address, signer, self.receipt_timeout)

    # ───────────────────────────────────────────────────────── writes

    def create_task(
        self,
        spec_cid: str,
        coordinator: str,
        rounds: int,
        bounty: int,
        claim_bond: int,
        max_contributors: int,
        timing: Timing | None = None,
        rates: SlashRates | None = None,
        holdout: HoldoutTerms | None = None,
    ) -> tuple[int, TxReceipt]:
        """Create and fund a task; returns its id and the receipt. A sealed ``holdout``'s bond
        (per round, times ``rounds``) is sent beside the ``bounty``."""
        fn = self.contract.functions.createTask(
            spec_cid,
            to_checksum_address(coordinator),
            rounds,
            (timing or Timing()).as_tuple(),
            claim_bond,
            max_contributors,
            (rates or SlashRates()).as_tuple(),
            holdout.as_tuple() if holdout else NO_HOLDOUT_TUPLE,
        )
        bond = holdout.bond(rounds) if holdout else 0
        receipt = self.transact(fn, value=bounty + bond)
        (event,) = self.contract.events.TaskCreated().process_receipt(receipt, errors=DISCARD)
        return int(event["args"]["taskId"]), receipt

    def fund(self, task_id: int, amount: int) -> TxReceipt:
        """Add ``amount`` wei to a task's escrow."""
        return self.transact(self.contract.functions.fund(task_id), value=amount)

    def claim(self, task_id: int, bond: int | None = None) -> TxReceipt:
        """Take a contributor slot, paying the task's claim bond (read from chain if not given)."""
        if bond is None:
            bond = self.task(task_id).claim_bond
        return self.transact(self.contract.functions.claim(task_id), value=bond)

    def commit(self, task_id: int, commitment: bytes) -> TxReceipt:
        """Commit to this round's submission."""
        return self.transact(self.contract.functions.commitSubmission(task_id, commitment))

    def reveal(self, task_id: int, cid: str, claimed_metric: int, salt: bytes) -> TxReceipt:
        """Reveal the committed CID and claimed metric (1e18-scaled)."""
        fn = self.contract.functions.revealSubmission(task_id, cid, claimed_metric, salt)
        return self.transact(fn)

    def reveal_holdout(self, task_id: int, key: bytes) -> TxReceipt:
        """Reveal the current round's holdout key (its reveal phase must be over)."""
        return self.transact(self.contract.functions.revealHoldout(task_id, key))

    def post_round(
        self,
        task_id: int,
        merged_cid: str,
        report_cid: str,
        credits_root: bytes,
        total: int,
        slashes: Sequence[SlashOrder] = (),
    ) -> TxReceipt:
        """Post the current round's merge, credits and slashes (coordinator only)."""
        orders = [(to_checksum_address(who), int(reason)) for who, reason in slashes]
        fn = self.contract.functions.postRound(
            task_id, merged_cid, report_cid, credits_root, total, orders
        )
        return self.transact(fn)

    def stake_coordinator(self, task_id: int, amount: int) -> TxReceipt:
        """Add ``amount`` wei to the caller's stake as the task's coordinator."""
        return self.transact(self.contract.functions.stakeCoordinator(task_id), value=amount)

    def release_stake(self, task_id: int) -> TxReceipt:
        """Book the coordinator's stake of a closed task back to it."""
        return self.transact(self.contract.functions.releaseStake(task_id))

    def challenge(
        self, task_id: int, round_: int, reason: str, bond: int | None = None
    ) -> TxReceipt:
        """Dispute a posted round (or join its open dispute), locking the dispute's bond."""
        if bond is None:
            bond = self._dispute_bond(task_id, round_)
        fn = self.contract.functions.challengeRound(task_id, round_, reason)
        return self.transact(fn, value=bond)

    def vote(
        self,
        task_id: int,
        round_: int,
        credits_root: bytes,
        total: int,
        slashes_digest: bytes,
        report_cid: str,
        bond: int | None = None,
    ) -> TxReceipt:
        """Vote, as a validator, for the result recomputed for a disputed round."""
        if bond is None:
            bond = self.dispute(task_id, round_).bond
        fn = self.contract.functions.vote(
            task_id, round_, credits_root, total, slashes_digest, report_cid
        )
        return self.transact(fn, value=bond)

    def resolve_dispute(self, task_id: int, round_: int) -> TxReceipt:
        """Decide a dispute whose vote is over (anyone)."""
        return self.transact(self.contract.functions.resolveDispute(task_id, round_))

    def claim_dispute_payout(self, task_id: int, round_: int) -> TxReceipt:
        """Book what a decided dispute owes the caller."""
        return self.transact(self.contract.functions.claimDisputePayout(task_id, round_))

    def stake_validator(self, amount: int | None = None) -> TxReceipt:
        """Join the validator panel, locking the market's validator stake."""
        if amount is None:
            amount = self.rules().validator_stake
        return self.transact(self.contract.functions.stakeValidator(), value=amount)

    def unstake_validator(self) -> TxReceipt:
        """Leave the validator panel; the stake becomes withdrawable."""
        return self.transact(self.contract.functions.unstakeValidator())

    def claim_reward(
        self, task_id: int, round_: int, account: str, amount: int, proof: Sequence[bytes]
    ) -> TxReceipt:
        """Claim ``account``'s credited reward of a final round: sent to it at once when it is the
        signer, booked to its withdrawable balance otherwise."""
        fn = self.contract.functions.claimReward(
            task_id, round_, to_checksum_address(account), amount, list(proof)
        )
        return self.transact(fn)

    def expire_credits(self, task_id: int, round_: int) -> TxReceipt:
        """Return a final round's credits unclaimed after the claim window to the funders."""
        return self.transact(self.contract.functions.expireCredits(task_id, round_))

    def revert_slash(self, task_id: int, round_: int, contributor: str) -> TxReceipt:
        """Give back a slash of an overturned or voided round to the contributor's bond."""
        fn = self.contract.functions.revertSlash(task_id, round_, to_checksum_address(contributor))
        return self.transact(fn)

    def close_task(self, task_id: int) -> TxReceipt:
        """Close a task (see the contract for who may, when)."""
        return self.transact(self.contract.functions.closeTask(task_id))

    def claim_refund(self, task_id: int) -> TxReceipt:
        """Book the caller's refund share of a closed task."""
        return self.transact(self.contract.functions.claimRefund(task_id))

    def release_bond(self, task_id: int) -> TxReceipt:
        """Book the caller's remaining bond of a closed task."""
        return self.transact(self.contract.functions.releaseBond(task_id))

    def withdraw(self) -> TxReceipt:
        """Receive the caller's whole withdrawable balance."""
        return self.transact(self.contract.functions.withdraw())

    def pause(self) -> TxReceipt:
        """Stop the market's clocks and money-moving actions (owner only)."""
        return self.transact(self.contract.functions.pause())

    def unpause(self) -> TxReceipt:
        """Resume after a pause (owner only)."""
        return self.transact(self.contract.functions.unpause())

    # ───────────────────────────────────────────────────────── reads

    def task_count(self) -> int:
        """Number of tasks; ids run 1..task_count."""
        return int(self.call(self.contract.functions.taskCount()))

    def task(self, task_id: int) -> TaskInfo:
        """A task's state."""
        return TaskInfo.from_abi(task_id, self.call(self.contract.functions.getTask(task_id)))

    def holdout(self, task_id: int) -> HoldoutInfo:
        """A task's sealed holdout (all zero for a task without one)."""
        raw = self.call(self.contract.functions.getHoldout(task_id))
        return HoldoutInfo.from_abi(task_id, raw)

    def round(self, task_id: int, round_: int) -> RoundInfo:
        """A round's state."""
        raw = self.call(self.contract.functions.getRound(task_id, round_))
        return RoundInfo.from_abi(task_id, round_, raw)

    def contributor(self, task_id: int, account: str) -> dict[str, Any]:
        """A contributor's slot: joined, bond, first_round, rewarded_rounds (bitmap)."""
        joined, bond, first_round, rewarded = self.call(
            self.contract.functions.getContributor(task_id, to_checksum_address(account))
        )
        return {
            "joined": joined,
            "bond": bond,
            "first_round": first_round,
            "rewarded_rounds": rewarded,
        }

    def reward_claimed(self, task_id: int, round_: int, account: str) -> bool:
        """Whether ``account`` already claimed its reward of a round."""
        return bool(self.contributor(task_id, account)["rewarded_rounds"] >> round_ & 1)

    def submission(self, task_id: int, round_: int, account: str) -> dict[str, Any]:
        """A contributor's submission in a round: commitment, revealed, slashed_mask and
        slashed_amount (posted slashes not reverted)."""
        commitment, revealed, mask, slashed = self.call(
            self.contract.functions.getSubmission(task_id, round_, to_checksum_address(account))
        )
        return {
            "commitment": bytes(commitment),
            "revealed": revealed,
            "slashed_mask": mask,
            "slashed_amount": slashed,
        }

    def dispute(self, task_id: int, round_: int) -> DisputeInfo:
        """A round's dispute (outcome NONE if it was never challenged)."""
        raw = self.call(self.contract.functions.getDispute(task_id, round_))
        return DisputeInfo.from_abi(task_id, round_, raw)

    def stance(self, task_id: int, round_: int, account: str) -> dict[str, Any]:
        """``account``'s part in a round's dispute: vote (candidate), challenged, owed now."""
        fn = self.contract.functions.stanceOf(task_id, round_, to_checksum_address(account))
        vote, challenged, owed = self.call(fn)
        return {"vote": bytes(vote), "challenged": challenged, "owed": int(owed)}

    def votes_for(self, task_id: int, round_: int, candidate: bytes) -> int:
        """Votes a candidate result has in a round's dispute."""
        return int(self.call(self.contract.functions.votesFor(task_id, round_, candidate)))

    def validator(self, account: str) -> tuple[int, int]:
        """A validator's stake and the market time it staked (zeros if not on the panel)."""
        stake, since = self.call(self.contract.functions.validatorOf(to_checksum_address(account)))
        return int(stake), int(since)

    def validator_stake_total(self) -> int:
        """The stakes of every validator on the panel."""
        return int(self.call(self.contract.functions.validatorStakeTotal()))

    def rules(self) -> MarketRules:
        """The market's dispute and payment rules."""
        return MarketRules(*self.call(self.contract.functions.rules()))

    def market_time(self) -> int:
        """The market's clock (block time less paused time): every deadline is on it."""
        return int(self.call(self.contract.functions.marketTime()))

    def paused(self) -> bool:
        """Whether the market is paused now."""
        return bool(self.call(self.contract.functions.paused()))

    def withdrawable(self, account: str) -> int:
        """What ``account`` can withdraw now."""
        fn = self.contract.functions.withdrawableOf(to_checksum_address(account))
        return int(self.call(fn))

    def funder_shares(self, task_id: int, funder: str) -> tuple[int, int]:
        """``funder``'s escrow shares in a task and the wei they are worth now."""
        fn = self.contract.functions.funderShares(task_id, to_checksum_address(funder))
        shares, value = self.call(fn)
        return int(shares), int(value)

    def floors(self) -> Floors:
        """The floors every task on this market inherits."""
        return Floors(*self.call(self.contract.functions.floors()))

    def deployment_block(self) -> int | None:
        """The block the market was deployed in (contract 0.6.0 on); ``None`` for an older
        market, which has no such view (its readers scan from block 0)."""
        try:
            return int(self.call(self.contract.functions.deploymentBlock()))
        except UnknownRevertError:
            return None

    def _dispute_bond(self, task_id: int, round_: int) -> int:
        """The bond a challenge locks: the open dispute's, else the task's claim bond."""
        dispute = self.dispute(task_id, round_)
        if dispute.challengers:
            return dispute.bond
        return self.task(task_id).claim_bond

    def balance(self) -> int:
        """The contract's ether balance."""
        return int(self.connection.rpc(lambda: self.w3.eth.get_balance(self.address)))

    # ───────────────────────────────────────────────────────── plumbing

    def call(self, fn: ContractFunction) -> Any:
        """Run a read, decoding reverts."""
        return self._decoding_reverts(lambda: fn.call())

    def transact(self, fn: ContractFunction | ContractConstructor, value: int = 0) -> TxReceipt:
        """Sign, send and wait for ``fn`` (a call or a deployment); any revert raises its named
        exception."""
        return self._send(fn.estimate_gas, fn.build_transaction, value)

    def transfer(self, to: str, amount: int) -> TxReceipt:
        """Send ``amount`` wei of the chain's coin to ``to`` (e.g. gas money for a role account)."""
        receiver = to_checksum_address(to)

        def addressed(params: TxParams) -> TxParams:
            return {**params, "to": receiver}

        return self._send(
            lambda params: self.w3.eth.estimate_gas(addressed(params)), addressed, amount
        )

    def sweep(self, to: str) -> int:
        """Send this account's balance to ``to``, less the most the transfer's gas can cost."""
        if self.signer is None:
            raise ChainError("this client is read-only: give it a signer to send transactions")
        owner = self.signer.address
        fees = self._fees()
        price = int(fees.get("maxFeePerGas", fees.get("gasPrice", 0)))
        balance = self.connection.rpc(lambda: self.w3.eth.get_balance(owner))
        amount = balance - _gas_limit(21_000) * price
        if amount <= 0:
            return 0
        self.transfer(to, amount)
        return amount

    def _send(
        self,
        estimate_gas: Callable[[TxParams], int],
        build: Callable[[TxParams], TxParams],
        value: int,
    ) -> TxReceipt:
        if self.signer is None:
            raise ChainError("this client is read-only: give it a signer to send transactions")
        chain_id = self.connection.chain_id
        sender = self.signer.address
        params: TxParams = {"from": sender, "value": Wei(value), "chainId": chain_id}
        params.update(self._fees())
        params["nonce"] = self.connection.rpc(
            lambda: self.w3.eth.get_transaction_count(sender, "pending")
        )
        estimate = self._decoding_reverts(lambda: estimate_gas(params))
        params["gas"] = _gas_limit(estimate)
        # web3 and eth-account type the same transaction dict differently: one plain view of it.
        tx = cast(dict[str, Any], self._decoding_reverts(lambda: build(params)))
        signed = self.signer.sign_transaction(tx)
        tx_hash = self.connection.rpc(
            lambda: self.w3.eth.send_raw_transaction(signed.raw_transaction)
        )
        receipt = self._wait_for_receipt(tx_hash)
        if self.connection.network.confirmations:
            receipt = self._wait_for_confirmations(tx_hash, receipt)
        if receipt["status"] != 1:
            # Mined but reverted (state changed after the estimate): replay it for the reason.
            replay = cast(TxParams, {k: tx[k] for k in ("from", "to", "value", "data") if k in tx})
            self._decoding_reverts(lambda: self.w3.eth.call(replay, receipt["blockNumber"] - 1))
            fields = {"tx": bytes(tx_hash), "gas_used": receipt["gasUsed"], "gas_limit": tx["gas"]}
            raise UnknownRevertError("UnknownRevert", fields, b"")
        return receipt

    def _wait_for_receipt(self, tx_hash: HexBytes) -> TxReceipt:
        """Poll for the receipt: at once (instant-mining devnets), then backing off to 1 s."""
        deadline = time.monotonic() + self.receipt_timeout
        delay = 0.005
        while True:
            try:
                return self.connection.rpc(lambda: self.w3.eth.get_transaction_receipt(tx_hash))
            except TransactionNotFound:
                if time.monotonic() >= deadline:
                    raise TransactionTimeoutError(
                        f"transaction 0x{bytes(tx_hash).hex()} not mined "
                        f"within {self.receipt_timeout}s"
                    ) from None
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    def _wait_for_confirmations(self, tx_hash: HexBytes, receipt: TxReceipt) -> TxReceipt:
        """The receipt once the network's ``confirmations`` blocks follow its block, read again
        then: a reorganisation may have moved the transaction to another block, or back to the
        pool (then it is waited for again), so what a role saw mined stays mined."""
        depth = self.connection.network.confirmations
        deadline = time.monotonic() + self.receipt_timeout
        while True:
            head = self.connection.rpc(lambda: self.w3.eth.block_number)
            if head >= receipt["blockNumber"] + depth:
                try:
                    again = self.connection.rpc(
                        lambda: self.w3.eth.get_transaction_receipt(tx_hash)
                    )
                except TransactionNotFound:
                    receipt = self._wait_for_receipt(tx_hash)
                    continue
                if again["blockHash"] == receipt["blockHash"]:
                    return again
                receipt = again
                continue
            if time.monotonic() >= deadline:
                raise TransactionTimeoutError(
                    f"transaction 0x{bytes(tx_hash).hex()} not {depth} blocks deep "
                    f"within {self.receipt_timeout}s"
                )
            time.sleep(0.5)

    def _fees(self) -> TxParams:
        block = self.connection.rpc(lambda: self.w3.eth.get_block("latest"))
        base_fee = block.get("baseFeePerGas")
        if base_fee is None:
            return {"gasPrice": self.connection.rpc(lambda: self.w3.eth.gas_price)}
        tip = self.connection.rpc(lambda: self.w3.eth.max_priority_fee)
        return {"maxPriorityFeePerGas": tip, "maxFeePerGas": Wei(2 * base_fee + tip)}

    def _decoding_reverts(self, action: Callable[[], T]) -> T:
        try:
            return self.connection.rpc(action)
        except ContractLogicError as e:
            data = e.data if isinstance(e.data, str) else None
            if data and data.startswith("0x") and len(data) >= 10:
                raise self.decoder.decode(bytes.fromhex(data[2:])) from None
            raise UnknownRevertError("UnknownRevert", {"message": str(e)}, b"") from None


def _gas_limit(estimate: int) -> int:
    """The estimate plus headroom: state can change between estimate and inclusion (e.g. another
    contributor's commit makes ours the last one, which opens reveals and costs an extra write)."""
    return estimate * 5 // 4 + 10_000
