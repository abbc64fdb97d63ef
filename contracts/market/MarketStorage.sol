// SPDX-License-Identifier: MIT
// MAGNET Market (market/MarketStorage.sol) v0.2.0
pragma solidity ^0.8.24;

import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IMagnetMarket} from "../interfaces/IMagnetMarket.sol";

/// @notice State shared by the parts of the market, and the rules that read it.
/// @dev Compiled for the Paris EVM (no transient storage, no PUSH0) so it deploys on any
/// EVM chain, HOOTi included; the reentrancy guard is therefore the storage-based one.
/// Storage is packed so the hot paths (claim, commit, reveal, claimReward) touch few slots.
/// Accounting identity kept by every part (tested as an invariant):
/// `address(this).balance >= Σ_tasks (escrow + reserved + refundRemaining + bondsHeld) + Σ withdrawable`,
/// equal unless ether was forced in (`selfdestruct`): that surplus is nobody's and stays here.
abstract contract MarketStorage is IMagnetMarket, Ownable2Step, Pausable, ReentrancyGuard {
    // ─────────────────────────────────────────────────────────────── constants

    /// @dev Rounds are bounded by the width of `Contributor.rewardedRounds`, a bitmap.
    uint32 public constant MAX_ROUNDS = 120;
    /// @dev 100 % in basis points.
    uint16 public constant MAX_SLASH_BPS = 10_000;
    /// @dev The project's default slash rates: timeout 10 %, dishonest claim 50 %, bad verification 30 %.
    uint16 public constant DEFAULT_TIMEOUT_BPS = 1_000;
    uint16 public constant DEFAULT_DISHONEST_CLAIM_BPS = 5_000;
    uint16 public constant DEFAULT_BAD_VERIFICATION_BPS = 3_000;
    /// @dev Upper bound for any phase duration, to keep deadlines far from uint40 overflow.
    uint64 public constant MAX_PHASE_DURATION = 365 days;
    /// @dev Escrow shares are minted with 10^6 virtual shares and 1 virtual wei (OpenZeppelin
    /// ERC4626's offset): a first funder cannot inflate the share price to round later ones to 0.
    uint256 internal constant VIRTUAL_SHARES = 1e6;

    // ─────────────────────────────────────────────────────────────── floors

    uint64 internal immutable _minSubmitDuration;
    uint64 internal immutable _minRevealDuration;
    uint64 internal immutable _minMergeDuration;
    uint64 internal immutable _minChallengeDuration;
    uint96 internal immutable _minClaimBond;

    // ─────────────────────────────────────────────────────────────── storage

    /// @dev Lifecycle of a round's result, from which `roundPhase` is derived.
    enum RoundStatus {
        Active,
        Posted,
        Challenged,
        Settled,
        Voided
    }

    struct Task {
        // slot: everything commit / reveal / claim read, so each touches one task slot
        uint96 bondsHeld; // claim bonds + challenge bonds locked in this task (bounded at creation)
        TaskStatus status;
        uint32 contributorCount;
        uint32 maxContributors;
        uint32 currentRound; // == rounds once every round is posted
        uint32 rounds;
        // slot: the money. Credited-but-unclaimed rewards ("reserved") are not stored: they are
        // Σ (totalCredited - claimedTotal) over posted rounds, so claimReward writes one slot less.
        uint128 escrow; // unallocated bounty
        uint128 totalFunded;
        // slot
        address sponsor;
        uint32 pendingChallenges;
        // slot
        address coordinator;
        uint96 claimBond;
        // Funders own the escrow in shares, bought at its value when they fund: spending and
        // slashes move every holder's value alike, and a late funder pays for nothing before it.
        uint256 totalShares;
        uint256 sharesRemaining; // shares whose refund is not claimed yet (after close)
        uint128 refundRemaining;
        Timing timing;
        SlashRates rates;
        string specCID;
    }

    struct Round {
        uint40 submitDeadline;
        uint40 revealDeadline;
        uint40 challengeDeadline; // set when posted: claims wait for it, challenges must beat it
        uint32 commits;
        uint32 reveals;
        RoundStatus status;
        bool revealsOpen; // every contributor committed before the submit deadline
        bytes32 creditsRoot;
        uint128 totalCredited;
        uint128 claimedTotal;
        address challenger;
        uint96 challengeBond;
    }

    struct Contributor {
        uint96 bond; // remaining claim bond
        bool joined;
        uint32 firstRound; // first round the contributor was expected to submit in
        uint120 rewardedRounds; // bit r set: reward of round r claimed
    }

    struct Submission {
        bytes32 commitment;
        bool revealed;
        uint8 slashedMask; // bit per SlashReason already applied
    }

    uint256 internal _taskCount;
    mapping(uint256 taskId => Task) internal _tasks;
    mapping(uint256 taskId => mapping(uint32 round => Round)) internal _rounds;
    mapping(uint256 taskId => mapping(address account => Contributor)) internal _contributors;
    mapping(uint256 taskId => mapping(uint32 round => mapping(address account => Submission))) internal _submissions;
    mapping(uint256 taskId => mapping(address funder => uint256)) internal _shares;
    mapping(address account => uint256) internal _withdrawable;

    /// @param marketFloors The least every task on this market must give (phases and claim bond).
    constructor(Floors memory marketFloors) {
        _requireDuration("minSubmitDuration", marketFloors.minSubmitDuration, false);
        _requireDuration("minRevealDuration", marketFloors.minRevealDuration, false);
        _requireDuration("minMergeDuration", marketFloors.minMergeDuration, false);
        _requireDuration("minChallengeDuration", marketFloors.minChallengeDuration, true);
        _minSubmitDuration = marketFloors.minSubmitDuration;
        _minRevealDuration = marketFloors.minRevealDuration;
        _minMergeDuration = marketFloors.minMergeDuration;
        _minChallengeDuration = marketFloors.minChallengeDuration;
        _minClaimBond = marketFloors.minClaimBond;
    }

    // ─────────────────────────────────────────────────────────────── public read

    /// @notice The floors every task on this market inherits, fixed at deployment.
    function floors() external view returns (Floors memory) {
        return Floors({
            minSubmitDuration: _minSubmitDuration,
            minRevealDuration: _minRevealDuration,
            minMergeDuration: _minMergeDuration,
            minChallengeDuration: _minChallengeDuration,
            minClaimBond: _minClaimBond
        });
    }

    // ─────────────────────────────────────────────────────────────── internal logic

    /// @dev The task, reverting when it does not exist.
    function _task(uint256 taskId) internal view returns (Task storage task) {
        task = _tasks[taskId];
        if (task.status == TaskStatus.None) revert TaskNotFound(taskId);
    }

    /// @dev The task, reverting unless it is open.
    function _openTask(uint256 taskId) internal view returns (Task storage task) {
        task = _task(taskId);
        if (task.status != TaskStatus.Open) revert TaskNotOpen(taskId);
    }

    /// @dev Opens round `round` now: deadlines are relative to this block.
    function _startRound(uint256 taskId, Task storage task, uint32 round) internal {
        Round storage r = _rounds[taskId][round];
        uint40 submitDeadline = uint40(block.timestamp + task.timing.submitDuration);
        r.submitDeadline = submitDeadline;
        r.revealDeadline = uint40(submitDeadline + task.timing.revealDuration);
    }

    /// @dev Phase of a round, derived from its status, deadlines and counters.
    function _phase(Task storage task, Round storage r, uint32 round) internal view returns (RoundPhase) {
        if (round >= task.rounds || round > task.currentRound) return RoundPhase.None;
        RoundStatus status = r.status;
        if (status == RoundStatus.Active) {
            if (task.status != TaskStatus.Open) return RoundPhase.None;
            if (block.timestamp < r.submitDeadline && !r.revealsOpen) return RoundPhase.Submitting;
            if (block.timestamp < r.revealDeadline && r.reveals < r.commits) return RoundPhase.Revealing;
            return RoundPhase.Merging;
        }
        if (status == RoundStatus.Posted) {
            return block.timestamp < r.challengeDeadline ? RoundPhase.Challenge : RoundPhase.Final;
        }
        if (status == RoundStatus.Challenged) return RoundPhase.Challenge;
        if (status == RoundStatus.Settled) return RoundPhase.Final;
        return RoundPhase.Voided;
    }

    /// @dev Reverts unless round `round` of the task is in `expected` phase; returns the round.
    function _requirePhase(uint256 taskId, Task storage task, uint32 round, RoundPhase expected)
        internal
        view
        returns (Round storage r)
    {
        r = _rounds[taskId][round];
        RoundPhase phase = _phase(task, r, round);
        if (phase != expected) revert RoundWrongPhase(taskId, round, phase);
    }

    /// @dev Credited rewards of the task's posted rounds not yet claimed (voided rounds hold none).
    function _reserved(uint256 taskId, Task storage task) internal view returns (uint256 total) {
        uint32 posted = task.currentRound;
        for (uint32 round = 0; round < posted; ++round) {
            Round storage r = _rounds[taskId][round];
            total += r.totalCredited - r.claimedTotal;
        }
    }

    /// @dev Reverts unless `duration` is a phase length this market can hold: at most
    /// MAX_PHASE_DURATION, and non-zero unless `zeroAllowed` (only a challenge window may be 0).
    function _requireDuration(string memory parameter, uint64 duration, bool zeroAllowed) internal pure {
        if ((duration == 0 && !zeroAllowed) || duration > MAX_PHASE_DURATION) {
            revert TaskInvalidParameter(parameter);
        }
    }

    /// @dev Books `amount` to `account`'s withdrawable balance; money leaves only by `withdraw`.
    function _credit(address account, uint256 amount) internal {
        _withdrawable[account] += amount;
    }
}
