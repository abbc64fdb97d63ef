// SPDX-License-Identifier: MIT
// MAGNET Market (MagnetMarket.sol) v0.2.0
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {MarketStorage} from "./market/MarketStorage.sol";
import {TaskEscrow} from "./market/TaskEscrow.sol";
import {Rounds} from "./market/Rounds.sol";
import {Rewards} from "./market/Rewards.sol";

/// @notice MAGNET Market: bounties for decentralized BitNet training, merged with DiLoCo.
/// @dev Composed of TaskEscrow (tasks, escrow, refunds), Rounds (slots, commit/reveal, posting,
/// challenges) and Rewards (Merkle rewards, slashing, bonds, withdrawals).
/// NOTE: payments are pull-only. Rewards, refunds and bonds are first booked with
/// `claimReward`, `claimRefund` and `releaseBond`; the account MUST then call `withdraw`.
/// NOTE: the owner arbitrates challenges and may pause new activity; commits, reveals,
/// withdrawals, claims of booked money and closing are never paused. Use a multisig as owner on a public network.
contract MagnetMarket is TaskEscrow, Rounds, Rewards {
    // ─────────────────────────────────────────────────────────────── constructor

    /// @param initialOwner The arbiter of challenges and holder of the pause switch.
    /// @param marketFloors The least every task on this market must give: phase lengths and claim bond.
    constructor(address initialOwner, Floors memory marketFloors)
        Ownable(initialOwner)
        MarketStorage(marketFloors)
    {}

    // ─────────────────────────────────────────────────────────────── public update

    /// @notice Stop new tasks, funding, claims, posts, challenges and slashes.
    /// @dev Owner only; money already booked stays withdrawable.
    function pause() external onlyOwner {
        _pause();
    }

    /// @notice Resume normal operation after `pause`.
    /// @dev Owner only.
    function unpause() external onlyOwner {
        _unpause();
    }

    /// @notice Always reverts: a market without an owner could never settle a challenge again,
    /// and every task with one pending could never close. Ownership moves with
    /// `transferOwnership` and `acceptOwnership` instead.
    function renounceOwnership() public view override onlyOwner {
        revert OwnershipCannotBeRenounced();
    }
}
