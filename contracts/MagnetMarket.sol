// SPDX-License-Identifier: MIT
// MAGNET Market (MagnetMarket.sol) v0.6.0
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {MarketStorage} from "./market/MarketStorage.sol";
import {TaskEscrow} from "./market/TaskEscrow.sol";
import {Rounds} from "./market/Rounds.sol";
import {Rewards} from "./market/Rewards.sol";
import {Disputes} from "./market/Disputes.sol";

/// @notice MAGNET Market: bounties for decentralized BitNet training, merged with DiLoCo.
/// @dev Composed of TaskEscrow (tasks, escrow, refunds, coordinator stake), Rounds (slots,
/// commit/reveal, posting with slashes), Disputes (validator panel, challenges, votes) and Rewards
/// (Merkle rewards and their claim window, reverted slashes, bonds, withdrawals).
/// NOTE: payments are pull-only. Rewards, refunds, bonds, stakes and dispute payouts are first
/// booked; the account MUST then call `withdraw`.
/// NOTE: the owner settles nothing: disputes are decided by the validators' vote. The owner can
/// only pause, which stops every clock (windows extend by the paused time) for at most
/// MAX_PAUSE_DURATION, and not again before as long has passed. Commits, reveals, withdrawals and
/// the booking of refunds, bonds, stakes and dispute payouts are never paused.
contract MagnetMarket is TaskEscrow, Rounds, Disputes, Rewards {
    // ─────────────────────────────────────────────────────────────── constructor

    /// @param initialOwner The holder of the pause switch.
    /// @param marketFloors The least every task on this market must give: phase lengths and claim bond.
    /// @param marketRules Claim window, vote window, validator stake, quorum and coordinator stake.
    constructor(address initialOwner, Floors memory marketFloors, MarketRules memory marketRules)
        Ownable(initialOwner)
        MarketStorage(marketFloors, marketRules)
    {}

    // ─────────────────────────────────────────────────────────────── public update

    /// @notice Stop the market's clocks and its money-moving actions (new tasks, funding, slots,
    /// posts, challenges, votes, reward claims, closing) for at most MAX_PAUSE_DURATION.
    /// @dev Owner only. Every deadline moves by the paused time, so nobody misses one; a new pause
    /// waits MAX_PAUSE_DURATION after the last one ended. Booked money stays withdrawable.
    function pause() external onlyOwner {
        if (_paused()) revert MarketIsPaused();
        if (_pausedAt != 0) _endPause(); // an expired pause nobody lifted
        uint256 lastEnd = _lastPauseEnd;
        if (lastEnd != 0 && block.timestamp < lastEnd + MAX_PAUSE_DURATION) {
            revert PauseCoolingDown(lastEnd + MAX_PAUSE_DURATION);
        }
        _pausedAt = uint64(block.timestamp);
        emit MarketPaused(msg.sender, block.timestamp + MAX_PAUSE_DURATION);
    }

    /// @notice Start the clocks again after `pause` (or record that a pause expired).
    /// @dev Owner only.
    function unpause() external onlyOwner {
        if (_pausedAt == 0) revert MarketNotPaused();
        emit MarketUnpaused(msg.sender, _endPause());
    }

    /// @notice Always reverts: the pause switch must keep a holder. Ownership moves with
    /// `transferOwnership` and `acceptOwnership` instead.
    function renounceOwnership() public view override onlyOwner {
        revert OwnershipCannotBeRenounced();
    }
}
