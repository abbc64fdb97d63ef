// SPDX-License-Identifier: MIT
// MAGNET Market (interfaces/IMagnetMarket.sol) v0.6.0
pragma solidity ^0.8.24;

/// @notice Types, errors and events of the MAGNET training marketplace.
/// @dev Every error is declared here once, so the Python client and the tests decode the same
/// selectors. Amounts are in wei. Metrics are fixed-point integers scaled by 1e18 ("wad").
interface IMagnetMarket {
    // ─────────────────────────────────────────────────────────────── types

    /// @dev Open: rounds run. Closed: no more rounds; funders reclaim escrow, contributors bonds.
    enum TaskStatus {
        None,
        Open,
        Closed
    }

    /// @dev Phase of one round, derived from its deadlines and counters (`getRound(...).phase`).
    /// Unsealing (appended, so earlier values keep their numbers) runs between Revealing and
    /// Merging in a task with a sealed holdout, until the round's holdout key is revealed or its
    /// window ends.
    enum RoundPhase {
        None,
        Submitting,
        Revealing,
        Merging,
        Challenge,
        Final,
        Voided,
        Unsealing
    }

    /// @dev Why a contributor's bond is slashed; rates are per task, in basis points.
    enum SlashReason {
        Timeout,
        DishonestClaim,
        BadVerification
    }

    /// @dev Durations in seconds of the phases of every round.
    struct Timing {
        uint64 submitDuration;
        uint64 revealDuration;
        uint64 mergeDuration;
        uint64 challengeDuration;
    }

    /// @dev The least every task on a market must give: phase lengths in seconds and the claim bond
    /// in wei. Fixed at deployment, so no task can waive them (e.g. a zero challenge window that
    /// makes rounds final at once, or a free bond that makes Sybil slots and challenges free).
    struct Floors {
        uint64 minSubmitDuration;
        uint64 minRevealDuration;
        uint64 minMergeDuration;
        uint64 minChallengeDuration;
        uint96 minClaimBond;
    }

    /// @dev The market's dispute and payment rules, fixed at deployment like the floors.
    /// `claimWindow`: seconds a final round's credits stay claimable, then they return to the
    /// funders. `voteDuration`: seconds validators have to vote once a round is challenged.
    /// `validatorStake`: what a validator locks to sit on the panel. `quorum`: the fewest votes
    /// that decide a dispute. `coordinatorStakeBps`: the stake a coordinator must hold to post a
    /// round, in basis points of that round's budget.
    struct MarketRules {
        uint64 claimWindow;
        uint64 voteDuration;
        uint96 validatorStake;
        uint32 quorum;
        uint16 coordinatorStakeBps;
    }

    /// @dev A slash the coordinator posts with a round; it takes effect when the round is final.
    struct SlashOrder {
        address contributor;
        SlashReason reason;
    }

    /// @dev How a dispute ended. `PostedHeld`: the majority voted for the posted result.
    /// `Overturned`: the majority voted for another result; the coordinator's stake is forfeit.
    /// `NoQuorum`: too few votes, or a tie; the round is voided and every bond comes back.
    enum DisputeOutcome {
        None,
        Open,
        PostedHeld,
        Overturned,
        NoQuorum
    }

    /// @dev Share of a contributor's bond taken per offence, in basis points (10_000 = 100 %).
    struct SlashRates {
        uint16 timeoutBps;
        uint16 dishonestClaimBps;
        uint16 badVerificationBps;
    }

    /// @dev A sponsor's sealed holdout: one slice per round, each encrypted under its own key.
    /// The keys form a hash chain, `key[r] = keccak256(key[r + 1])`, and `head = keccak256(key[0])`:
    /// revealing round r's key proves itself against the last key revealed (or the head) and
    /// discloses earlier rounds' keys only, never a later one. A zero head means no holdout
    /// (then `revealDuration` and `bondPerRound` must be zero too).
    struct HoldoutTerms {
        bytes32 head;
        uint64 revealDuration; // seconds after the round's reveal deadline to reveal its key
        uint96 bondPerRound; // forfeit to the round's budget when its key is not revealed in time
    }

    /// @dev A task's holdout now (all zero: none; the head itself is in `HoldoutSealed`).
    struct HoldoutView {
        bytes32 lastKey; // the last key revealed (the head before any)
        uint32 revealedThrough; // rounds below this have their key known on chain
        uint64 revealDuration;
        uint256 bondPerRound;
        uint256 bondHeld; // bond not yet returned or forfeited
    }

    /// @dev A task as `getTask` returns it.
    struct TaskView {
        address sponsor;
        address coordinator;
        TaskStatus status;
        uint32 rounds;
        uint32 currentRound;
        uint32 contributorCount;
        uint32 maxContributors;
        uint256 claimBond;
        uint256 escrow;
        uint256 reserved;
        uint256 bondsHeld;
        uint256 totalFunded;
        uint256 totalShares;
        uint256 refundRemaining;
        uint256 coordinatorStake;
        uint256 slashesPending;
        uint32 openDisputes;
        Timing timing;
        SlashRates rates;
        string specCID;
    }

    /// @dev A round as `getRound` returns it.
    struct RoundView {
        RoundPhase phase;
        uint64 submitDeadline;
        uint64 revealDeadline;
        uint64 challengeDeadline;
        uint32 commits;
        uint32 reveals;
        bytes32 creditsRoot;
        uint256 totalCredited;
        uint256 claimedTotal;
        bytes32 slashesDigest;
        uint256 slashedTotal;
    }

    /// @dev A round's dispute as `getDispute` returns it. Every challenge and every vote locks
    /// `bond`; `candidate`s are keccak256(abi.encode(creditsRoot, totalCredited, slashesDigest)).
    struct DisputeView {
        DisputeOutcome outcome;
        uint64 voteDeadline;
        uint32 challengers;
        uint32 votes;
        uint32 leaderVotes;
        bool tied;
        uint256 bond;
        uint256 payoutPerWinner;
        bytes32 postedCandidate;
        bytes32 leader;
    }

    // ─────────────────────────────────────────────────────────────── errors

    /// @dev No task has this id.
    error TaskNotFound(uint256 taskId);
    /// @dev The task is not in the status the action needs.
    error TaskNotOpen(uint256 taskId);
    /// @dev A task parameter is out of its bounds; `parameter` names it.
    error TaskInvalidParameter(string parameter);
    /// @dev A task parameter is below the market's floor for it (see `floors`).
    error TaskBelowFloor(string parameter, uint256 value, uint256 floor);
    /// @dev Every round is posted: new funding could only be refunded, or take others' slashes.
    error TaskFundingClosed(uint256 taskId);
    /// @dev A posted round can still be challenged: the escrow's value is not settled yet.
    error TaskFundingWaitsForChallenges(uint256 taskId);
    /// @dev The task must be closed first (refunds, bond release).
    error TaskNotClosed(uint256 taskId);
    /// @dev Only the task's coordinator may do this.
    error TaskNotCoordinator(uint256 taskId, address caller);
    /// @dev The task cannot be closed yet.
    error TaskNotClosable(uint256 taskId);
    /// @dev A payment that must carry value carried none.
    error EscrowZeroAmount();
    /// @dev The funding is too small to buy a single share of the task's escrow.
    error EscrowFundingTooSmall(uint256 taskId, uint256 amount);
    /// @dev The round's credits exceed its share of the escrow.
    error EscrowInsufficientFunds(uint256 taskId, uint256 available, uint256 needed);
    /// @dev The claim bond sent differs from the task's.
    error ClaimWrongBond(uint256 taskId, uint256 sent, uint256 required);
    /// @dev The caller already holds a slot in this task.
    error ClaimAlreadyJoined(uint256 taskId, address contributor);
    /// @dev Every contributor slot of the task is taken.
    error ClaimTaskFull(uint256 taskId, uint32 maxContributors);
    /// @dev The caller holds no slot in this task.
    error ClaimNotContributor(uint256 taskId, address account);
    /// @dev The round is not in the phase the action needs.
    error RoundWrongPhase(uint256 taskId, uint32 round, RoundPhase phase);
    /// @dev A zero commitment commits to nothing; it would count as a commit and open reveals early.
    error SubmissionZeroCommitment(uint256 taskId, uint32 round, address contributor);
    /// @dev The caller already committed in this round.
    error SubmissionAlreadyCommitted(uint256 taskId, uint32 round, address contributor);
    /// @dev The caller has no commitment in this round.
    error SubmissionNotCommitted(uint256 taskId, uint32 round, address contributor);
    /// @dev The caller already revealed in this round.
    error SubmissionAlreadyRevealed(uint256 taskId, uint32 round, address contributor);
    /// @dev The revealed values do not hash to the commitment.
    error SubmissionCommitmentMismatch(uint256 taskId, uint32 round, bytes32 expected, bytes32 actual);
    /// @dev An empty content identifier.
    error SubmissionEmptyCID();
    /// @dev The caller already challenged, or already voted in, this round's dispute.
    error DisputeAlreadyJoined(uint256 taskId, uint32 round, address account);
    /// @dev The round has no dispute taking challenges or votes now.
    error DisputeNotOpen(uint256 taskId, uint32 round);
    /// @dev The dispute's vote window is still running.
    error DisputeVoteRunning(uint256 taskId, uint32 round, uint256 voteDeadline);
    /// @dev A challenge or vote must lock exactly the dispute's bond.
    error DisputeWrongBond(uint256 taskId, uint256 sent, uint256 required);
    /// @dev Only a validator staked before the dispute opened may vote in it.
    error VoterNotEligible(uint256 taskId, uint32 round, address account);
    /// @dev The account already sits on the validator panel.
    error ValidatorAlreadyStaked(address account);
    /// @dev The account does not sit on the validator panel.
    error ValidatorNotStaked(address account);
    /// @dev A validator must lock exactly the market's validator stake.
    error ValidatorWrongStake(uint256 sent, uint256 required);
    /// @dev The coordinator's stake in the task is below what posting this round needs.
    error CoordinatorStakeTooLow(uint256 taskId, uint256 staked, uint256 required);
    /// @dev The round's claim window closed: its unclaimed credits return to the funders.
    error RewardClaimExpired(uint256 taskId, uint32 round, uint256 expiredAt);
    /// @dev The round's claim window is still open.
    error RewardClaimWindowOpen(uint256 taskId, uint32 round, uint256 expiresAt);
    /// @dev Credit goes only to contributors who revealed a submission in that round.
    error RewardNotRevealed(uint256 taskId, uint32 round, address account);
    /// @dev The slash cannot be reverted: its round was not overturned or voided, or it was reverted already.
    error SlashNotRevertible(uint256 taskId, uint32 round, address contributor);
    /// @dev The market is paused (clocks stopped): this action waits for `unpause`.
    error MarketIsPaused();
    /// @dev The market is not paused.
    error MarketNotPaused();
    /// @dev A new pause must wait for the cool-down after the last one.
    error PauseCoolingDown(uint256 readyAt);
    /// @dev The Merkle proof does not prove (account, amount) under the round's root.
    error RewardInvalidProof(uint256 taskId, uint32 round, address account, uint256 amount);
    /// @dev The account already claimed its reward for this round.
    error RewardAlreadyClaimed(uint256 taskId, uint32 round, address account);
    /// @dev The contributor was already slashed for this reason in this round.
    error SlashAlreadyApplied(uint256 taskId, uint32 round, address contributor, SlashReason reason);
    /// @dev The slash's condition does not hold (e.g. a timeout slash of a contributor who revealed).
    error SlashNotJustified(uint256 taskId, uint32 round, address contributor, SlashReason reason);
    /// @dev Nothing to withdraw, refund or release.
    error NothingToPay(address account);
    /// @dev The value transfer to the account failed.
    error TransferFailed(address account, uint256 amount);
    /// @dev Renouncing ownership is refused: a market keeps a key that can stop its clocks in an emergency.
    error OwnershipCannotBeRenounced();
    /// @dev The task has no sealed holdout.
    error HoldoutNotSealed(uint256 taskId);
    /// @dev The key does not hash back to the last key revealed (or the head).
    error HoldoutKeyMismatch(uint256 taskId, uint32 round);

    // ─────────────────────────────────────────────────────────────── events

    /// @dev A sponsor created a task; round 0 starts now.
    event TaskCreated(
        uint256 indexed taskId,
        address indexed sponsor,
        address indexed coordinator,
        string specCID,
        uint32 rounds,
        uint256 claimBond,
        uint32 maxContributors,
        Timing timing,
        SlashRates rates
    );
    /// @dev A funder added `amount` to the task's escrow, buying `shares` of it at its current value.
    event TaskFunded(uint256 indexed taskId, address indexed funder, uint256 amount, uint256 shares);
    /// @dev A contributor took a slot, locking `bond`.
    event ContributorJoined(uint256 indexed taskId, address indexed contributor, uint256 bond);
    /// @dev A contributor committed to a submission without revealing it.
    event SubmissionCommitted(
        uint256 indexed taskId, uint32 indexed round, address indexed contributor, bytes32 commitment
    );
    /// @dev A contributor revealed its checkpoint CID and claimed metric.
    event SubmissionRevealed(
        uint256 indexed taskId, uint32 indexed round, address indexed contributor, string cid, int256 claimedMetric
    );
    /// @dev The coordinator posted a merged round; round `round + 1` (if any) started.
    event RoundPosted(
        uint256 indexed taskId,
        uint32 indexed round,
        string mergedCID,
        string reportCID,
        bytes32 creditsRoot,
        uint256 totalCredited,
        bytes32 slashesDigest
    );
    /// @dev Someone disputed a posted round, locking `bond`; the first challenge opens the vote.
    event RoundChallenged(
        uint256 indexed taskId, uint32 indexed round, address indexed challenger, uint256 bond, string reason
    );
    /// @dev The first challenge of a round opened its dispute; validators vote until `voteDeadline`.
    event DisputeOpened(uint256 indexed taskId, uint32 indexed round, uint256 voteDeadline, bytes32 postedCandidate);
    /// @dev A validator voted for the result it recomputed, locking `bond`.
    event VoteCast(
        uint256 indexed taskId,
        uint32 indexed round,
        address indexed validator,
        bytes32 candidate,
        bytes32 creditsRoot,
        uint256 totalCredited,
        bytes32 slashesDigest,
        string reportCID,
        uint256 bond
    );
    /// @dev A dispute was decided. `refundedToEscrow`: credits that went back to the task's escrow.
    event DisputeResolved(
        uint256 indexed taskId,
        uint32 indexed round,
        DisputeOutcome outcome,
        bytes32 leader,
        uint256 payoutPerWinner,
        uint256 forfeitedStake,
        uint256 refundedToEscrow
    );
    /// @dev A party of a decided dispute booked its bonds back and its share of the losers'.
    event DisputePaid(uint256 indexed taskId, uint32 indexed round, address indexed account, uint256 amount);
    /// @dev The coordinator added `amount` to its stake in the task.
    event CoordinatorStaked(uint256 indexed taskId, address indexed coordinator, uint256 amount, uint256 stake);
    /// @dev The coordinator's stake was booked back to it after the task closed.
    event StakeReleased(uint256 indexed taskId, address indexed coordinator, uint256 amount);
    /// @dev An account joined the validator panel, locking `stake`.
    event ValidatorStaked(address indexed validator, uint256 stake);
    /// @dev A validator left the panel; its stake was booked back.
    event ValidatorUnstaked(address indexed validator, uint256 stake);
    /// @dev A final round's unclaimed credits outlived the claim window and went back to the funders.
    event CreditsExpired(uint256 indexed taskId, uint32 indexed round, uint256 amount);
    /// @dev A slash of an overturned or voided round went back to the contributor's bond.
    event SlashReverted(uint256 indexed taskId, uint32 indexed round, address indexed contributor, uint256 amount);
    /// @dev The owner stopped the market's clocks until `unpause` or `until`, whichever comes first.
    event MarketPaused(address indexed by, uint256 until);
    /// @dev The market's clocks run again; every deadline moved by `pausedSeconds`.
    event MarketUnpaused(address indexed by, uint256 pausedSeconds);
    /// @dev A credited account booked its reward for a round.
    event RewardClaimed(uint256 indexed taskId, uint32 indexed round, address indexed account, uint256 amount);
    /// @dev The coordinator posted a slash of `amount` with the round; the funders get it once the round is final.
    event ContributorSlashed(
        uint256 indexed taskId, uint32 indexed round, address indexed contributor, SlashReason reason, uint256 amount
    );
    /// @dev The task closed; `refundPool` is shared among its funders by their escrow shares.
    event TaskClosed(uint256 indexed taskId, address indexed closedBy, uint256 refundPool);
    /// @dev A funder booked the refund its `shares` are worth.
    event RefundClaimed(uint256 indexed taskId, address indexed funder, uint256 amount, uint256 shares);
    /// @dev A contributor's remaining bond was booked back to it.
    event BondReleased(uint256 indexed taskId, address indexed contributor, uint256 amount);
    /// @dev An account took its withdrawable balance.
    event Withdrawn(address indexed account, uint256 amount);
    /// @dev Emitted by `createTask` for a task with a sealed holdout, right after TaskCreated.
    event HoldoutSealed(uint256 indexed taskId, bytes32 head, uint64 revealDuration, uint256 bondPerRound);
    /// @dev Round `round`'s slice can now be decrypted with `key`; `bondReturned` is booked to the sponsor.
    event HoldoutRevealed(uint256 indexed taskId, uint32 indexed round, bytes32 key, uint256 bondReturned);
    /// @dev Round `round` was posted without its key: judged on the public validation split, and
    /// the sponsor's bond for it joined the round's budget.
    event HoldoutForfeited(uint256 indexed taskId, uint32 indexed round, uint256 amount);
    /// @dev Closing returned the holdout bond of rounds never reached to the sponsor.
    event HoldoutBondReturned(uint256 indexed taskId, address indexed sponsor, uint256 amount);
}
