// SPDX-License-Identifier: MIT
// MAGNET Market (market/MarketStorage.sol) v0.6.0
pragma solidity ^0.8.24;

import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IMagnetMarket} from "../interfaces/IMagnetMarket.sol";

/// @notice State shared by the parts of the market, and the rules that read it.
/// @dev Compiled for the Paris EVM (no transient storage, no PUSH0) so it deploys on any
/// EVM chain, HOOTi included; the reentrancy guard is therefore the storage-based one.
/// Storage is packed so the hot paths (claim, commit, reveal, claimReward) touch few slots.
/// Accounting identity kept by every part (tested as an invariant):
/// `address(this).balance >= Σ_tasks (escrow + reserved + refundRemaining + bondsHeld + coordinatorStake
/// + holdoutBondHeld)
/// + Σ validator stakes + Σ withdrawable`, equal unless ether was forced in (`selfdestruct`): that
/// surplus is nobody's and stays here. `bondsHeld` counts claim bonds, dispute bonds and posted
/// slashes not yet final.
/// Time: every deadline is in market time, `block.timestamp` less the seconds the market was
/// paused, so a pause stops every clock and extends every window by the paused time.
abstract contract MarketStorage is IMagnetMarket, Ownable2Step, ReentrancyGuard {
    // ─────────────────────────────────────────────────────────────── constants

    /// @dev Rounds are bounded by the width of `Contributor.rewardedRounds`, a bitmap.
    uint32 public constant MAX_ROUNDS = 120;
    /// @dev 100 % in basis points.
    uint16 public constant MAX_SLASH_BPS = 10_000;
    /// @dev Upper bound for any phase duration, to keep deadlines far from uint40 overflow.
    uint64 internal constant MAX_PHASE_DURATION = 365 days;
    /// @dev The longest a pause lasts; a new pause waits as long again after the last one ended,
    /// so the owner can stop the clocks for at most half of any period, and never for good.
    uint64 public constant MAX_PAUSE_DURATION = 7 days;
    /// @dev Escrow shares are minted with 10^6 virtual shares and 1 virtual wei (OpenZeppelin
    /// ERC4626's offset): a first funder cannot inflate the share price to round later ones to 0.
    uint256 internal constant VIRTUAL_SHARES = 1e6;

    // ─────────────────────────────────────────────────────────────── floors

    uint64 internal immutable _minSubmitDuration;
    uint64 internal immutable _minRevealDuration;
    uint64 internal immutable _minMergeDuration;
    uint64 internal immutable _minChallengeDuration;
    uint96 internal immutable _minClaimBond;
    uint64 internal immutable _claimWindow;
    uint64 internal immutable _voteDuration;
    uint96 internal immutable _validatorStake;
    uint32 internal immutable _quorum;
    uint16 internal immutable _coordinatorStakeBps;

    /// @notice The block this market was deployed in: where a reader's event scan starts, so a
    /// market known only by its address is never scanned from block 0.
    uint256 public immutable deploymentBlock;

    // ─────────────────────────────────────────────────────────────── storage

    /// @dev Lifecycle of a round's result, from which `roundPhase` is derived.
    /// Posted rounds end Settled (final as posted), Replaced (final with the credits a dispute's
    /// majority voted for) or Voided; a Disputed round waits for its vote.
    enum RoundStatus {
        Active,
        Posted,
        Disputed,
        Settled,
        Replaced,
        Voided
    }

    struct Task {
        // slot: everything commit / reveal / claim read, so each touches one task slot
        uint96 bondsHeld; // claim and dispute bonds, and posted slashes not yet final
        TaskStatus status;
        uint32 contributorCount;
        uint32 maxContributors;
        uint32 currentRound; // == rounds once every round is posted
        uint32 rounds;
        uint8 openDisputes; // at most one per round, rounds <= MAX_ROUNDS
        bool hasHoldout; // a sealed holdout: rounds pass through Unsealing (read with the slot above)
        // slot: the money. Credited-but-unclaimed rewards ("reserved") are not stored: they are
        // Σ (totalCredited - claimedTotal) over posted rounds, so claimReward writes one slot less.
        uint128 escrow; // unallocated bounty
        uint128 totalFunded;
        // slot: postRound reads the stake beside the sponsor
        address sponsor;
        uint96 coordinatorStake; // forfeit to the winners of a dispute that overturns a round
        // slot
        address coordinator;
        uint96 claimBond;
        // Funders own the escrow in shares, bought at its value when they fund: spending and
        // slashes move every holder's value alike, and a late funder pays for nothing before it.
        uint256 totalShares;
        uint256 sharesRemaining; // shares whose refund is not claimed yet (after close)
        uint128 refundRemaining;
        uint128 slashesPending; // posted slashes of rounds not overturned, not yet in escrow (in bondsHeld)
        Timing timing;
        SlashRates rates;
        // slot: the sealed holdout (zero unless `sealed`)
        uint96 holdoutBondPerRound;
        uint96 holdoutBondHeld; // neither returned (key revealed, task closed) nor forfeited
        uint32 holdoutRevealedThrough; // rounds below it have their key on chain
        uint32 holdoutDuration; // seconds after a round's reveal deadline to reveal its key
        bytes32 holdoutLastKey; // the head until the first key is revealed
        string specCID;
    }

    struct Round {
        uint40 submitDeadline;
        uint40 revealDeadline;
        // set when posted: challenges must beat it, claims wait for it; moved to the decision
        // time when a dispute ends, so the claim window runs from when credits are known
        uint40 challengeDeadline;
        uint32 commits;
        uint32 reveals;
        RoundStatus status;
        bool revealsOpen; // every contributor committed before the submit deadline
        bytes32 creditsRoot;
        uint128 totalCredited;
        uint128 claimedTotal; // claimed, or expired after the claim window
        // written only when the round is posted with slashes
        bytes32 slashesDigest; // keccak256(abi.encode(SlashOrder[]))
        uint128 slashedTotal;
    }

    struct Dispute {
        uint40 voteDeadline;
        uint32 challengers;
        uint32 votes;
        uint32 leaderVotes;
        bool tied; // another candidate has as many votes as the leader
        DisputeOutcome outcome;
        uint96 bond; // every challenge and vote locks this (the task's claim bond at opening)
        bytes32 postedCandidate;
        bytes32 leader;
        bytes32 leaderRoot;
        uint128 leaderTotal;
        uint128 payoutPerWinner; // each winning challenge or vote gets its bond and this
    }

    /// A party's part in one dispute: its vote (zero if none) and whether it challenged.
    struct Stance {
        bytes32 vote;
        bool challenged;
        bool paid;
    }

    struct Validator {
        bool seated;
        uint96 stake;
        uint40 since; // market time of staking: only disputes opened later count its votes
    }

    /// A contributor's slots in a task, reused round after round: only the first commit and the
    /// first reveal of a contributor write a fresh slot (~20k gas each); later rounds overwrite.
    struct Contributor {
        // slot: what commit, reveal and slashes check
        uint96 bond; // remaining claim bond
        bool joined;
        uint32 firstRound; // first round the contributor was expected to submit in
        uint32 committedRound; // 1 + the last round it committed in (0: none yet)
        // slot: its latest commitment (of round committedRound - 1)
        bytes32 commitment;
        // slot: what reveal and claimReward check (rounds < MAX_ROUNDS <= 128)
        uint128 revealedRounds; // bit r set: revealed in round r (only then is credit claimable)
        uint128 rewardedRounds; // bit r set: reward of round r claimed
    }

    /// Slashes posted against a contributor in one round (written only when a slash is posted).
    struct SlashRecord {
        uint8 mask; // bit per SlashReason posted
        uint96 amount; // taken from the bond with the post; back if the round is overturned
    }

    uint256 internal _taskCount;
    mapping(uint256 taskId => Task) internal _tasks;
    mapping(uint256 taskId => mapping(uint32 round => Round)) internal _rounds;
    mapping(uint256 taskId => mapping(address account => Contributor)) internal _contributors;
    mapping(uint256 taskId => mapping(uint32 round => mapping(address account => SlashRecord))) internal _slashRecords;
    mapping(uint256 taskId => mapping(address funder => uint256)) internal _shares;
    mapping(address account => uint256) internal _withdrawable;
    mapping(uint256 taskId => mapping(uint32 round => Dispute)) internal _disputes;
    mapping(uint256 taskId => mapping(uint32 round => mapping(bytes32 candidate => uint32))) internal _tally;
    mapping(uint256 taskId => mapping(uint32 round => mapping(address account => Stance))) internal _stances;
    mapping(address account => Validator) internal _validators;
    uint256 internal _validatorStakeTotal;

    // The clock: one slot, read by every action that checks a deadline.
    uint64 internal _pausedAt; // block time the current pause began, 0 when running
    uint64 internal _pausedTotal; // seconds of every finished pause
    uint64 internal _lastPauseEnd; // block time the last pause ended

    /// @param marketFloors The least every task on this market must give (phases and claim bond).
    /// @param marketRules Claim window, vote window, validator stake, quorum, coordinator stake.
    constructor(Floors memory marketFloors, MarketRules memory marketRules) {
        _requireDuration("minSubmitDuration", marketFloors.minSubmitDuration, false);
        _requireDuration("minRevealDuration", marketFloors.minRevealDuration, false);
        _requireDuration("minMergeDuration", marketFloors.minMergeDuration, false);
        _requireDuration("minChallengeDuration", marketFloors.minChallengeDuration, true);
        _minSubmitDuration = marketFloors.minSubmitDuration;
        _minRevealDuration = marketFloors.minRevealDuration;
        _minMergeDuration = marketFloors.minMergeDuration;
        _minChallengeDuration = marketFloors.minChallengeDuration;
        _minClaimBond = marketFloors.minClaimBond;
        _requireDuration("claimWindow", marketRules.claimWindow, false);
        _requireDuration("voteDuration", marketRules.voteDuration, false);
        if (marketRules.quorum == 0) revert TaskInvalidParameter("quorum");
        if (marketRules.coordinatorStakeBps > MAX_SLASH_BPS) revert TaskInvalidParameter("coordinatorStakeBps");
        _claimWindow = marketRules.claimWindow;
        _voteDuration = marketRules.voteDuration;
        _validatorStake = marketRules.validatorStake;
        _quorum = marketRules.quorum;
        _coordinatorStakeBps = marketRules.coordinatorStakeBps;
        deploymentBlock = block.number;
    }

    // ─────────────────────────────────────────────────────────────── modifiers

    /// @dev Reverts while the market is paused.
    modifier whenNotPaused() {
        if (_paused()) revert MarketIsPaused();
        _;
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

    /// @notice The dispute and payment rules of this market, fixed at deployment.
    function rules() external view returns (MarketRules memory) {
        return MarketRules({
            claimWindow: _claimWindow,
            voteDuration: _voteDuration,
            validatorStake: _validatorStake,
            quorum: _quorum,
            coordinatorStakeBps: _coordinatorStakeBps
        });
    }

    /// @notice The market's clock: block time less every second the market was paused. Every
    /// deadline the market reports is on this clock.
    function marketTime() external view returns (uint256) {
        return _now();
    }

    /// @notice Whether the market is paused now (a pause ends by itself after MAX_PAUSE_DURATION).
    function paused() external view returns (bool) {
        return _paused();
    }

    // ─────────────────────────────────────────────────────────────── internal logic

    /// @dev Market time: frozen while paused, and behind block time by every finished pause.
    function _now() internal view returns (uint256) {
        uint256 pausedAt = _pausedAt;
        uint256 running = block.timestamp - _pausedTotal;
        if (pausedAt != 0) {
            uint256 end = pausedAt + MAX_PAUSE_DURATION;
            uint256 stoppedAt = block.timestamp < end ? block.timestamp : end;
            running -= stoppedAt - pausedAt;
        }
        return running;
    }

    /// @dev A pause is in force: begun and neither lifted nor expired.
    function _paused() internal view returns (bool) {
        uint256 pausedAt = _pausedAt;
        return pausedAt != 0 && block.timestamp < pausedAt + MAX_PAUSE_DURATION;
    }

    /// @dev Ends the recorded pause (lifted now, or expired earlier), adding its length to the clock's offset.
    function _endPause() internal returns (uint256 pausedSeconds) {
        uint256 pausedAt = _pausedAt;
        uint256 end = pausedAt + MAX_PAUSE_DURATION;
        uint256 endedAt = block.timestamp < end ? block.timestamp : end;
        pausedSeconds = endedAt - pausedAt;
        _pausedTotal += uint64(pausedSeconds);
        _lastPauseEnd = uint64(endedAt);
        _pausedAt = 0;
    }

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
        uint40 submitDeadline = uint40(_now() + task.timing.submitDuration);
        r.submitDeadline = submitDeadline;
        r.revealDeadline = uint40(submitDeadline + task.timing.revealDuration);
    }

    /// @dev Phase of a round, derived from its status, deadlines and counters.
    function _phase(Task storage task, Round storage r, uint32 round) internal view returns (RoundPhase) {
        if (round >= task.rounds || round > task.currentRound) return RoundPhase.None;
        RoundStatus status = r.status;
        if (status == RoundStatus.Active) {
            if (task.status != TaskStatus.Open) return RoundPhase.None;
            uint256 now_ = _now();
            if (now_ < r.submitDeadline && !r.revealsOpen) return RoundPhase.Submitting;
            if (now_ < r.revealDeadline && r.reveals < r.commits) return RoundPhase.Revealing;
            if (task.hasHoldout && _unsealing(task, r, round, now_)) return RoundPhase.Unsealing;
            return RoundPhase.Merging;
        }
        if (status == RoundStatus.Posted) {
            return _now() < r.challengeDeadline ? RoundPhase.Challenge : RoundPhase.Final;
        }
        if (status == RoundStatus.Disputed) return RoundPhase.Challenge;
        if (status == RoundStatus.Voided) return RoundPhase.Voided;
        return RoundPhase.Final;
    }

    /// @dev Round `round`'s holdout key is not on chain yet and its reveal window still runs.
    function _unsealing(Task storage task, Round storage r, uint32 round, uint256 now_) internal view returns (bool) {
        return task.holdoutRevealedThrough <= round && now_ < uint256(r.revealDeadline) + task.holdoutDuration;
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

    /// @dev The result validators vote on: the credits and the slashes a round posted or should have.
    function _candidate(bytes32 creditsRoot, uint256 totalCredited, bytes32 slashesDigest)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(creditsRoot, totalCredited, slashesDigest));
    }

    /// @dev Books `amount` to `account`'s withdrawable balance; money leaves only by `withdraw`.
    function _credit(address account, uint256 amount) internal {
        _withdrawable[account] += amount;
    }
}
