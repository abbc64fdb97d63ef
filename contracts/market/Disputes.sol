// SPDX-License-Identifier: MIT
// MAGNET Market (market/Disputes.sol) v0.6.0
pragma solidity ^0.8.24;

import {MarketStorage} from "./MarketStorage.sol";

/// @notice Disputes with no single key: a panel of staked validators votes on a challenged round.
/// @dev Anyone may challenge a posted round within its challenge window by locking the task's
/// claim bond; the first challenge opens a vote of `voteDuration`, and more challengers may join
/// it until the vote closes, so no decoy challenge can pre-empt a real one. Validators who staked
/// before the dispute opened recompute the round (`magnet verify round`) and vote, each locking
/// the same bond, for the result they get: a candidate is
/// keccak256(abi.encode(creditsRoot, totalCredited, slashesDigest)). After the vote anyone may
/// resolve it:
/// - fewer than `quorum` votes, or a tie: the round is voided (its credits go back to the
///   escrow, its slashes back to the bonds) and every bond comes back;
/// - the posted result wins: it stands; challengers and voters for other results lose their
///   bonds to the voters for it;
/// - another result wins: the coordinator's whole stake and the losers' bonds go to the
///   challengers and the voters for it; the round's slashes are reverted and its credits
///   become the winner's (voided instead if the winner credits more than was posted).
/// Each winner then books its bond and an equal share of the pool with `claimDisputePayout`;
/// rounding dust goes to the escrow.
abstract contract Disputes is MarketStorage {
    // ─────────────────────────────────────────────────────────────── public update

    /// @notice Join the validator panel by locking exactly the market's validator stake.
    /// @dev Votes count only in disputes opened after this call, so nobody can stake in reaction
    /// to a dispute.
    function stakeValidator() external payable whenNotPaused {
        Validator storage v = _validators[msg.sender];
        if (v.seated) revert ValidatorAlreadyStaked(msg.sender);
        if (msg.value != _validatorStake) revert ValidatorWrongStake(msg.value, _validatorStake);
        v.seated = true;
        v.stake = uint96(msg.value);
        v.since = uint40(_now());
        _validatorStakeTotal += msg.value;
        emit ValidatorStaked(msg.sender, msg.value);
    }

    /// @notice Leave the validator panel; the stake becomes withdrawable.
    /// @dev Votes carry their own bonds, so leaving escapes nothing; open votes still pay out.
    function unstakeValidator() external {
        Validator storage v = _validators[msg.sender];
        if (!v.seated) revert ValidatorNotStaked(msg.sender);
        uint96 stake = v.stake;
        delete _validators[msg.sender];
        _validatorStakeTotal -= stake;
        _credit(msg.sender, stake);
        emit ValidatorUnstaked(msg.sender, stake);
    }

    /// @notice Dispute a posted round by locking the task's claim bond: within the round's
    /// challenge window (this opens the vote), or while its vote runs (this joins it).
    /// @dev Claims of the round wait for the dispute's decision.
    /// @param taskId The task.
    /// @param round The posted round.
    /// @param reason Short reason, e.g. the CID of evidence.
    function challengeRound(uint256 taskId, uint32 round, string calldata reason) external payable whenNotPaused {
        Task storage task = _openTask(taskId);
        Round storage r = _rounds[taskId][round];
        Dispute storage d = _disputes[taskId][round];
        if (r.status == RoundStatus.Posted) {
            RoundPhase phase = _phase(task, r, round);
            if (phase != RoundPhase.Challenge) revert RoundWrongPhase(taskId, round, phase);
            uint256 voteDeadline = _now() + _voteDuration;
            bytes32 posted = _candidate(r.creditsRoot, r.totalCredited, r.slashesDigest);
            r.status = RoundStatus.Disputed;
            d.outcome = DisputeOutcome.Open;
            d.voteDeadline = uint40(voteDeadline);
            d.bond = task.claimBond;
            d.postedCandidate = posted;
            task.openDisputes += 1;
            emit DisputeOpened(taskId, round, voteDeadline, posted);
        } else if (r.status != RoundStatus.Disputed || _now() >= d.voteDeadline) {
            revert DisputeNotOpen(taskId, round);
        }
        Stance storage stance = _stances[taskId][round][msg.sender];
        if (stance.challenged) revert DisputeAlreadyJoined(taskId, round, msg.sender);
        if (msg.value != d.bond) revert DisputeWrongBond(taskId, msg.value, d.bond);
        stance.challenged = true;
        d.challengers += 1;
        task.bondsHeld += uint96(msg.value);
        emit RoundChallenged(taskId, round, msg.sender, msg.value, reason);
    }

    /// @notice Vote, as a validator, for the result you recomputed for a disputed round, locking
    /// the dispute's bond. Vote for the posted result if you got the same.
    /// @param taskId The task.
    /// @param round The disputed round.
    /// @param creditsRoot The Merkle root of the credits you recomputed.
    /// @param totalCredited Their sum, in wei.
    /// @param slashesDigest keccak256(abi.encode(SlashOrder[])) of the slashes you recomputed (zero if none).
    /// @param reportCID CID of your recomputed report, so contributors can build their proofs.
    function vote(
        uint256 taskId,
        uint32 round,
        bytes32 creditsRoot,
        uint256 totalCredited,
        bytes32 slashesDigest,
        string calldata reportCID
    ) external payable whenNotPaused {
        Task storage task = _openTask(taskId);
        Dispute storage d = _disputes[taskId][round];
        // Open from the first challenge until resolved: the round is Disputed exactly then.
        if (d.outcome != DisputeOutcome.Open || _now() >= d.voteDeadline) revert DisputeNotOpen(taskId, round);
        Validator storage v = _validators[msg.sender];
        if (!v.seated || v.since >= d.voteDeadline - _voteDuration) {
            revert VoterNotEligible(taskId, round, msg.sender);
        }
        Stance storage stance = _stances[taskId][round][msg.sender];
        if (stance.vote != bytes32(0)) revert DisputeAlreadyJoined(taskId, round, msg.sender);
        if (msg.value != d.bond) revert DisputeWrongBond(taskId, msg.value, d.bond);
        if (totalCredited > type(uint128).max) revert TaskInvalidParameter("totalCredited");
        bytes32 candidate = _candidate(creditsRoot, totalCredited, slashesDigest);
        stance.vote = candidate;
        d.votes += 1;
        bytes32 leader = d.leader;
        if (candidate == leader) {
            // The leader's count lives in `leaderVotes` alone while it leads (one slot less).
            d.leaderVotes += 1;
            d.tied = false;
        } else {
            uint32 count = _tally[taskId][round][candidate] + 1;
            _tally[taskId][round][candidate] = count;
            uint32 leaderVotes = d.leaderVotes;
            if (count > leaderVotes) {
                if (leader != bytes32(0)) _tally[taskId][round][leader] = leaderVotes;
                d.leader = candidate;
                d.leaderVotes = count;
                d.tied = false;
                d.leaderRoot = creditsRoot;
                d.leaderTotal = uint128(totalCredited);
            } else if (count == leaderVotes) {
                d.tied = true;
            }
        }
        task.bondsHeld += uint96(msg.value);
        emit VoteCast(taskId, round, msg.sender, candidate, creditsRoot, totalCredited, slashesDigest, reportCID, msg.value);
    }

    /// @notice Decide a dispute once its vote is over (anyone may call).
    /// @param taskId The task.
    /// @param round The disputed round.
    function resolveDispute(uint256 taskId, uint32 round) external whenNotPaused {
        Task storage task = _task(taskId);
        Round storage r = _rounds[taskId][round];
        Dispute storage d = _disputes[taskId][round];
        if (r.status != RoundStatus.Disputed) revert DisputeNotOpen(taskId, round);
        if (_now() < d.voteDeadline) revert DisputeVoteRunning(taskId, round, d.voteDeadline);
        task.openDisputes -= 1;
        uint256 entries = uint256(d.challengers) + d.votes;
        uint256 winners = 0;
        uint256 forfeited = 0;
        uint256 refunded = 0;
        DisputeOutcome outcome;
        if (d.votes < _quorum || d.tied) {
            outcome = DisputeOutcome.NoQuorum;
            refunded = _void(task, r);
        } else if (d.leader == d.postedCandidate) {
            outcome = DisputeOutcome.PostedHeld;
            winners = d.leaderVotes;
            r.status = RoundStatus.Settled;
        } else {
            outcome = DisputeOutcome.Overturned;
            winners = uint256(d.challengers) + d.leaderVotes;
            forfeited = task.coordinatorStake;
            task.coordinatorStake = 0;
            task.bondsHeld += uint96(forfeited);
            refunded = _overturn(task, r, d);
        }
        uint256 perWinner = 0;
        if (winners != 0) {
            uint256 pool = uint256(d.bond) * (entries - winners) + forfeited;
            perWinner = pool / winners;
            uint256 dust = pool % winners;
            task.bondsHeld -= uint96(dust);
            task.escrow += uint128(dust);
        }
        d.outcome = outcome;
        d.payoutPerWinner = uint128(perWinner);
        // The claim window of the round's credits runs from now, when they are known.
        r.challengeDeadline = uint40(_now());
        emit DisputeResolved(taskId, round, outcome, d.leader, perWinner, forfeited, refunded);
    }

    /// @notice Book what a decided dispute owes the caller: each winning challenge or vote gets
    /// its bond back and an equal share of the losers' bonds (and of a forfeited stake); with no
    /// quorum every bond comes back.
    /// @param taskId The task.
    /// @param round The disputed round.
    function claimDisputePayout(uint256 taskId, uint32 round) external {
        Task storage task = _task(taskId);
        Dispute storage d = _disputes[taskId][round];
        DisputeOutcome outcome = d.outcome;
        if (outcome == DisputeOutcome.Open) revert DisputeVoteRunning(taskId, round, d.voteDeadline);
        Stance storage stance = _stances[taskId][round][msg.sender];
        uint256 owed = stance.paid ? 0 : _owed(d, stance, outcome);
        if (owed == 0) revert NothingToPay(msg.sender);
        stance.paid = true;
        task.bondsHeld -= uint96(owed);
        _credit(msg.sender, owed);
        emit DisputePaid(taskId, round, msg.sender, owed);
    }

    // ─────────────────────────────────────────────────────────────── public read

    /// @notice A round's dispute: outcome, vote deadline, counts, bond, payout and candidates.
    /// @param taskId The task.
    /// @param round The round.
    function getDispute(uint256 taskId, uint32 round) external view returns (DisputeView memory) {
        Dispute storage d = _disputes[taskId][round];
        return DisputeView({
            outcome: d.outcome,
            voteDeadline: d.voteDeadline,
            challengers: d.challengers,
            votes: d.votes,
            leaderVotes: d.leaderVotes,
            tied: d.tied,
            bond: d.bond,
            payoutPerWinner: d.payoutPerWinner,
            postedCandidate: d.postedCandidate,
            leader: d.leader
        });
    }

    /// @notice An account's part in a round's dispute and what it can book now.
    /// @param taskId The task.
    /// @param round The round.
    /// @param account Any account.
    /// @return vote The candidate it voted for (zero if none).
    /// @return challenged Whether it challenged.
    /// @return owed What `claimDisputePayout` would book for it now.
    function stanceOf(uint256 taskId, uint32 round, address account)
        external
        view
        returns (bytes32 vote, bool challenged, uint256 owed)
    {
        Dispute storage d = _disputes[taskId][round];
        Stance storage stance = _stances[taskId][round][account];
        bool decided = d.outcome != DisputeOutcome.None && d.outcome != DisputeOutcome.Open;
        owed = decided && !stance.paid ? _owed(d, stance, d.outcome) : 0;
        return (stance.vote, stance.challenged, owed);
    }

    /// @notice Votes a candidate result has in a round's dispute.
    /// @param taskId The task.
    /// @param round The round.
    /// @param candidate keccak256(abi.encode(creditsRoot, totalCredited, slashesDigest)).
    function votesFor(uint256 taskId, uint32 round, bytes32 candidate) external view returns (uint256) {
        Dispute storage d = _disputes[taskId][round];
        if (candidate != bytes32(0) && candidate == d.leader) return d.leaderVotes;
        return _tally[taskId][round][candidate];
    }

    /// @notice A validator's stake and the market time it staked (zeros if not on the panel).
    /// @param account Any account.
    function validatorOf(address account) external view returns (uint256 stake, uint256 since) {
        Validator storage v = _validators[account];
        return (v.stake, v.since);
    }

    /// @notice The stakes of every validator on the panel, in wei.
    function validatorStakeTotal() external view returns (uint256) {
        return _validatorStakeTotal;
    }

    // ─────────────────────────────────────────────────────────────── internal logic

    /// @dev Voids a disputed round: its credits return to the escrow, its slashes to the bonds
    /// (each with `revertSlash`). Claims wait for the decision, so nothing was claimed.
    function _void(Task storage task, Round storage r) private returns (uint256 refunded) {
        refunded = r.totalCredited;
        r.totalCredited = 0;
        r.status = RoundStatus.Voided;
        task.escrow += uint128(refunded);
        task.slashesPending -= r.slashedTotal;
    }

    /// @dev The majority's credits replace the posted ones when they credit no more; else void.
    function _overturn(Task storage task, Round storage r, Dispute storage d) private returns (uint256 refunded) {
        uint128 posted = r.totalCredited;
        if (d.leaderTotal > posted) return _void(task, r);
        refunded = posted - d.leaderTotal;
        r.creditsRoot = d.leaderRoot;
        r.totalCredited = d.leaderTotal;
        r.status = RoundStatus.Replaced;
        task.escrow += uint128(refunded);
        task.slashesPending -= r.slashedTotal;
    }

    /// @dev What a decided dispute owes a stance, before checking whether it was paid.
    function _owed(Dispute storage d, Stance storage stance, DisputeOutcome outcome) private view returns (uint256 owed) {
        uint256 bond = d.bond;
        uint256 win = bond + d.payoutPerWinner;
        if (stance.challenged) {
            if (outcome == DisputeOutcome.NoQuorum) owed += bond;
            else if (outcome == DisputeOutcome.Overturned) owed += win;
        }
        if (stance.vote != bytes32(0)) {
            if (outcome == DisputeOutcome.NoQuorum) owed += bond;
            else if (stance.vote == d.leader) owed += win;
        }
    }
}
