// SPDX-License-Identifier: MIT
// MAGNET Market (market/Rewards.sol) v0.6.0
pragma solidity ^0.8.24;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {MarketStorage} from "./MarketStorage.sol";

/// @notice Rewards and their claim window, reverted slashes, bond release and withdrawals.
/// @dev Money leaves by `withdraw` (pull), and by `claimReward` when a contributor claims its own
/// reward (sent to the caller once every state change is made). Everything else books amounts
/// into `_withdrawable` first, in VestingWallet's order: work out the amount, book it, emit,
/// transfer.
abstract contract Rewards is MarketStorage {
    // ─────────────────────────────────────────────────────────────── public update

    /// @notice Pay `account`'s credited reward of a final round, proven against its Merkle root.
    /// @dev Within the market's claim window after the round became final, and only for an
    /// account that revealed a submission in the round (credit posted to anyone else can never be
    /// claimed and expires back to the funders). Anyone may submit the proof; the reward always
    /// goes to `account`: sent at once when `account` claims for itself (state is settled first,
    /// and the transfer is logged as `Withdrawn`), booked to its withdrawable balance otherwise.
    /// The leaf is OpenZeppelin StandardMerkleTree's:
    /// keccak256(bytes.concat(keccak256(abi.encode(account, amount)))). Gas is O(log n) in the
    /// number of credited accounts.
    /// @param taskId The task.
    /// @param round The round whose credits are claimed.
    /// @param account The credited contributor.
    /// @param amount The credited amount, in wei.
    /// @param proof Sibling hashes from the leaf to the root.
    function claimReward(uint256 taskId, uint32 round, address account, uint256 amount, bytes32[] calldata proof)
        external
        whenNotPaused
    {
        Task storage task = _task(taskId);
        Round storage r = _requirePhase(taskId, task, round, RoundPhase.Final);
        uint256 expiresAt = uint256(r.challengeDeadline) + _claimWindow;
        if (_now() >= expiresAt) revert RewardClaimExpired(taskId, round, expiresAt);
        Contributor storage c = _contributors[taskId][account];
        uint128 bit = uint128(1) << round;
        // One slot: revealed (so joined) and not yet rewarded in this round.
        if (c.revealedRounds & bit == 0) revert RewardNotRevealed(taskId, round, account);
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
        emit RewardClaimed(taskId, round, account, amount);
        if (msg.sender != account) {
            _credit(account, amount);
            return;
        }
        emit Withdrawn(msg.sender, amount);
        (bool ok,) = payable(msg.sender).call{value: amount}("");
        if (!ok) revert TransferFailed(msg.sender, amount);
    }

    /// @notice Return a final round's credits nobody claimed within the claim window to the funders.
    /// @dev Anyone may call. Into the escrow while the task is open; into the refund pool once
    /// closed; to the sponsor if every funder has already taken its refund.
    /// @param taskId The task.
    /// @param round A final round whose claim window is over.
    function expireCredits(uint256 taskId, uint32 round) external whenNotPaused {
        Task storage task = _task(taskId);
        Round storage r = _requirePhase(taskId, task, round, RoundPhase.Final);
        uint256 expiresAt = uint256(r.challengeDeadline) + _claimWindow;
        if (_now() < expiresAt) revert RewardClaimWindowOpen(taskId, round, expiresAt);
        uint128 unclaimed = r.totalCredited - r.claimedTotal;
        if (unclaimed == 0) revert NothingToPay(msg.sender);
        r.claimedTotal = r.totalCredited;
        if (task.status == TaskStatus.Open) {
            task.escrow += unclaimed;
        } else if (task.sharesRemaining != 0) {
            task.refundRemaining += unclaimed;
        } else {
            _credit(task.sponsor, unclaimed);
        }
        emit CreditsExpired(taskId, round, unclaimed);
    }

    /// @notice Give a contributor back a slash posted with a round that a dispute overturned or voided.
    /// @dev Anyone may call; the amount returns to the contributor's bond (released with `releaseBond`).
    /// @param taskId The task.
    /// @param round The overturned or voided round.
    /// @param contributor The slashed contributor.
    function revertSlash(uint256 taskId, uint32 round, address contributor) external {
        _task(taskId);
        RoundStatus status = _rounds[taskId][round].status;
        SlashRecord storage slashed = _slashRecords[taskId][round][contributor];
        uint96 amount = slashed.amount;
        if ((status != RoundStatus.Replaced && status != RoundStatus.Voided) || amount == 0) {
            revert SlashNotRevertible(taskId, round, contributor);
        }
        slashed.amount = 0;
        // Still in bondsHeld: the dispute took it out of slashesPending, not out of the bonds.
        _contributors[taskId][contributor].bond += amount;
        emit SlashReverted(taskId, round, contributor, amount);
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
}
