// SPDX-License-Identifier: MIT
// MAGNET Market (market/Rewards.sol) v0.2.0
pragma solidity ^0.8.24;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {MarketStorage} from "./MarketStorage.sol";

/// @notice Rewards, slashing, bond release and withdrawals.
/// @dev Money only leaves by `withdraw` (pull). Everything else books amounts into
/// `_withdrawable` first, in VestingWallet's order: work out the amount, book it, emit, transfer.
abstract contract Rewards is MarketStorage {
    // ─────────────────────────────────────────────────────────────── public update

    /// @notice Book `account`'s credited reward of a final round, proven against its Merkle root.
    /// @dev Anyone may submit the proof; the reward always goes to `account`. The leaf is
    /// OpenZeppelin StandardMerkleTree's: keccak256(bytes.concat(keccak256(abi.encode(account, amount)))).
    /// Gas is O(log n) in the number of credited accounts.
    /// @param taskId The task.
    /// @param round The round whose credits are claimed.
    /// @param account The credited contributor.
    /// @param amount The credited amount, in wei.
    /// @param proof Sibling hashes from the leaf to the root.
    function claimReward(uint256 taskId, uint32 round, address account, uint256 amount, bytes32[] calldata proof)
        external
    {
        Task storage task = _task(taskId);
        Round storage r = _requirePhase(taskId, task, round, RoundPhase.Final);
        Contributor storage c = _contributors[taskId][account];
        if (!c.joined) revert ClaimNotContributor(taskId, account);
        uint120 bit = uint120(1) << round;
        if (c.rewardedRounds & bit != 0) revert RewardAlreadyClaimed(taskId, round, account);
        if (amount == 0) revert NothingToPay(account);
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(account, amount))));
        if (!MerkleProof.verifyCalldata(proof, r.creditsRoot, leaf)) {
            revert RewardInvalidProof(taskId, round, account, amount);
        }
        uint256 claimed = r.claimedTotal + amount;
        if (claimed > r.totalCredited) revert EscrowInsufficientFunds(taskId, r.totalCredited - r.claimedTotal, amount);
        c.rewardedRounds |= bit;
        r.claimedTotal = uint128(claimed);
        _credit(account, amount);
        emit RewardClaimed(taskId, round, account, amount);
    }

    /// @notice Take the task's slash rate of a contributor's bond into the task's escrow.
    /// @dev Coordinator only, open tasks only, once per (round, contributor, reason). A timeout
    /// needs the round's reveals to be over without a reveal from a contributor expected in that
    /// round; the other reasons need a revealed submission (the evidence is in the round report).
    /// @param taskId The task.
    /// @param round The round of the offence.
    /// @param contributor The contributor slashed.
    /// @param reason Timeout, DishonestClaim or BadVerification.
    function slash(uint256 taskId, uint32 round, address contributor, SlashReason reason) external whenNotPaused {
        Task storage task = _openTask(taskId);
        if (msg.sender != task.coordinator) revert TaskNotCoordinator(taskId, msg.sender);
        Contributor storage c = _contributors[taskId][contributor];
        if (!c.joined) revert ClaimNotContributor(taskId, contributor);
        Submission storage s = _submissions[taskId][round][contributor];
        uint8 bit = uint8(1) << uint8(reason);
        if (s.slashedMask & bit != 0) revert SlashAlreadyApplied(taskId, round, contributor, reason);
        if (!_slashJustified(taskId, task, round, c, s, reason)) {
            revert SlashNotJustified(taskId, round, contributor, reason);
        }
        s.slashedMask |= bit;
        uint256 amount = (uint256(task.claimBond) * _rateBps(task, reason)) / MAX_SLASH_BPS;
        if (amount > c.bond) amount = c.bond;
        unchecked {
            // Cannot underflow: amount <= c.bond <= bondsHeld.
            c.bond -= uint96(amount);
            task.bondsHeld -= uint96(amount);
        }
        task.escrow += uint128(amount);
        emit ContributorSlashed(taskId, round, contributor, reason, amount);
    }

    /// @notice Book a contributor's remaining bond back to it once the task is closed.
    /// @param taskId The closed task.
    function releaseBond(uint256 taskId) external {
        Task storage task = _task(taskId);
        if (task.status != TaskStatus.Closed) revert TaskNotClosed(taskId);
        Contributor storage c = _contributors[taskId][msg.sender];
        uint96 bond = c.bond;
        if (bond == 0) revert NothingToPay(msg.sender);
        c.bond = 0;
        task.bondsHeld -= bond;
        _credit(msg.sender, bond);
        emit BondReleased(taskId, msg.sender, bond);
    }

    /// @notice Send the caller its whole withdrawable balance.
    /// @dev Guarded against reentrancy; state is cleared before the transfer.
    function withdraw() external nonReentrant {
        uint256 amount = _withdrawable[msg.sender];
        if (amount == 0) revert NothingToPay(msg.sender);
        _withdrawable[msg.sender] = 0;
        emit Withdrawn(msg.sender, amount);
        (bool ok,) = payable(msg.sender).call{value: amount}("");
        if (!ok) revert TransferFailed(msg.sender, amount);
    }

    // ─────────────────────────────────────────────────────────────── public read

    /// @notice What `account` can withdraw now.
    /// @param account Any account.
    function withdrawableOf(address account) external view returns (uint256) {
        return _withdrawable[account];
    }

    /// @notice The phase of a round (None for rounds not started or of a closed task).
    /// @param taskId The task.
    /// @param round The round.
    function roundPhase(uint256 taskId, uint32 round) external view returns (RoundPhase) {
        return _phase(_task(taskId), _rounds[taskId][round], round);
    }

    /// @notice Whether `account` already claimed its reward of a round.
    /// @param taskId The task.
    /// @param round The round.
    /// @param account The contributor.
    function rewardClaimed(uint256 taskId, uint32 round, address account) external view returns (bool) {
        return _contributors[taskId][account].rewardedRounds & (uint120(1) << round) != 0;
    }

    // ─────────────────────────────────────────────────────────────── internal logic

    function _slashJustified(
        uint256 taskId,
        Task storage task,
        uint32 round,
        Contributor storage c,
        Submission storage s,
        SlashReason reason
    ) private view returns (bool) {
        if (reason != SlashReason.Timeout) return s.revealed;
        if (round < c.firstRound || s.revealed) return false;
        RoundPhase phase = _phase(task, _rounds[taskId][round], round);
        return phase != RoundPhase.None && phase != RoundPhase.Submitting && phase != RoundPhase.Revealing;
    }

    function _rateBps(Task storage task, SlashReason reason) private view returns (uint256) {
        if (reason == SlashReason.Timeout) return task.rates.timeoutBps;
        if (reason == SlashReason.DishonestClaim) return task.rates.dishonestClaimBps;
        return task.rates.badVerificationBps;
    }
}
