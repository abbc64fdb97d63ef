// SPDX-License-Identifier: MIT
// MAGNET Market (market/Rounds.sol) v0.6.0
pragma solidity ^0.8.24;

import {MarketStorage} from "./MarketStorage.sol";

/// @notice Contributor slots and the round protocol: commit, reveal, post (credits and slashes).
/// @dev A round runs Submitting → Revealing → Merging → Challenge → Final; with a sealed holdout,
/// Unsealing comes between Revealing and Merging, until the sponsor reveals the round's key. Reveals open at the
/// submit deadline, or as soon as every contributor has committed, so nobody can copy a revealed
/// CID into a later commitment. Posting a round starts the next one at once, so contributors
/// train on the merged checkpoint while the challenge window of the previous round runs.
/// NOTE: commit and reveal are never paused (they move no money); a pause stops the clocks, so
/// nobody misses a deadline because of it.
/// NOTE: CIDs and claimed metrics live in events only (storage would cost ~20k gas per slot);
/// clients rebuild them from `SubmissionRevealed` and `RoundPosted`.
abstract contract Rounds is MarketStorage {
    // ─────────────────────────────────────────────────────────────── public update

    /// @notice Take a contributor slot in a task by locking its claim bond.
    /// @dev The contributor is expected to submit from the current round if it is still
    /// accepting commitments, otherwise from the next one (timeout slashes count from there).
    /// @param taskId The task to join.
    function claim(uint256 taskId) external payable whenNotPaused {
        Task storage task = _openTask(taskId);
        if (msg.value != task.claimBond) revert ClaimWrongBond(taskId, msg.value, task.claimBond);
        Contributor storage c = _contributors[taskId][msg.sender];
        if (c.joined) revert ClaimAlreadyJoined(taskId, msg.sender);
        if (task.contributorCount >= task.maxContributors) revert ClaimTaskFull(taskId, task.maxContributors);
        uint32 current = task.currentRound;
        uint32 firstRound = _phase(task, _rounds[taskId][current], current) == RoundPhase.Submitting
            ? current
            : current + 1;
        c.bond = uint96(msg.value);
        c.joined = true;
        c.firstRound = firstRound;
        unchecked {
            // Cannot overflow: contributorCount < maxContributors (uint32), and createTask bounds
            // claimBond * (maxContributors + rounds) by 2^96, the most bondsHeld can reach.
            task.contributorCount += 1;
            task.bondsHeld += uint96(msg.value);
        }
        emit ContributorJoined(taskId, msg.sender, msg.value);
    }

    /// @notice Commit to this round's submission without revealing it.
    /// @dev `commitment` MUST equal keccak256(abi.encode(taskId, round, msg.sender, keccak256(bytes(cid)),
    /// claimedMetric, salt)).
    /// One non-zero commitment per contributor per round, so the commits that open reveals early
    /// are one per expected contributor: nobody can count for others.
    /// @param taskId The task.
    /// @param commitment Hash binding the task, round, sender, checkpoint CID, claimed metric and salt.
    function commitSubmission(uint256 taskId, bytes32 commitment) external {
        Task storage task = _openTask(taskId);
        uint32 round = task.currentRound;
        Round storage r = _requirePhase(taskId, task, round, RoundPhase.Submitting);
        Contributor storage c = _contributors[taskId][msg.sender];
        if (!c.joined) revert ClaimNotContributor(taskId, msg.sender);
        if (commitment == bytes32(0)) revert SubmissionZeroCommitment(taskId, round, msg.sender);
        if (c.committedRound == round + 1) revert SubmissionAlreadyCommitted(taskId, round, msg.sender);
        c.committedRound = round + 1;
        c.commitment = commitment;
        uint32 commits = r.commits + 1;
        r.commits = commits;
        if (commits == task.contributorCount) r.revealsOpen = true;
        emit SubmissionCommitted(taskId, round, msg.sender, commitment);
    }

    /// @notice Reveal the committed checkpoint CID and claimed metric of this round.
    /// @param taskId The task.
    /// @param cid IPFS CID of the contributor's checkpoint.
    /// @param claimedMetric Metric the contributor claims on the task's validation split (1e18-scaled).
    /// @param salt The secret used in the commitment.
    function revealSubmission(uint256 taskId, string calldata cid, int256 claimedMetric, bytes32 salt) external {
        if (bytes(cid).length == 0) revert SubmissionEmptyCID();
        Task storage task = _openTask(taskId);
        uint32 round = task.currentRound;
        Round storage r = _requirePhase(taskId, task, round, RoundPhase.Revealing);
        Contributor storage c = _contributors[taskId][msg.sender];
        if (c.committedRound != round + 1) revert SubmissionNotCommitted(taskId, round, msg.sender);
        uint128 bit = uint128(1) << round;
        if (c.revealedRounds & bit != 0) revert SubmissionAlreadyRevealed(taskId, round, msg.sender);
        bytes32 expected = c.commitment;
        bytes32 actual = _commitmentFor(taskId, round, msg.sender, cid, claimedMetric, salt);
        if (actual != expected) revert SubmissionCommitmentMismatch(taskId, round, expected, actual);
        c.revealedRounds |= bit;
        r.reveals += 1;
        emit SubmissionRevealed(taskId, round, msg.sender, cid, claimedMetric);
    }

    /// @notice Reveal the key of the current round's holdout slice, once every submission is fixed.
    /// @dev Anyone holding the key may send it (it proves itself); the round's bond is booked back to
    /// the sponsor. Only in the Unsealing phase: never before the round's reveals close (a key out
    /// early would let contributors train on the slice), never after its window. The key must hash
    /// back, once per round since the last key on chain, to that key (or the head): a key of a
    /// later round is refused, a missed round's key follows from the next one.
    /// @param taskId The task.
    /// @param key The round's key, `key[round]` of the sponsor's chain.
    function revealHoldout(uint256 taskId, bytes32 key) external whenNotPaused {
        Task storage task = _openTask(taskId);
        if (!task.hasHoldout) revert HoldoutNotSealed(taskId);
        uint32 round = task.currentRound;
        _requirePhase(taskId, task, round, RoundPhase.Unsealing);
        bytes32 link = key;
        for (uint32 i = task.holdoutRevealedThrough; i <= round; ++i) {
            link = keccak256(abi.encode(link));
        }
        if (link != task.holdoutLastKey) revert HoldoutKeyMismatch(taskId, round);
        task.holdoutLastKey = key;
        task.holdoutRevealedThrough = round + 1;
        uint96 bond = task.holdoutBondPerRound;
        task.holdoutBondHeld -= bond;
        _credit(task.sponsor, bond);
        emit HoldoutRevealed(taskId, round, key, bond);
    }

    /// @notice Post the merged result of the current round, with its slashes, and start the next round.
    /// @dev Coordinator only, in the Merging phase, holding a stake of at least
    /// `coordinatorStakeBps` of the round's budget (an equal share of the remaining escrow per
    /// remaining round, which also caps `totalCredited`). Gas does not depend on the number of
    /// contributors: credits are a Merkle root (OpenZeppelin StandardMerkleTree, leaves
    /// `(address account, uint256 amount)`), claimed one by one with `claimReward`, and only by
    /// accounts that revealed in the round. Slashes are taken from the bonds now but reach the
    /// funders only when the round is final; a dispute that overturns the round reverts them.
    /// A round of a sealed task posted without its holdout key (its window ended) is judged on the
    /// public validation split, and the sponsor's bond for the round joins the round's budget.
    /// @param taskId The task.
    /// @param mergedCID CID of the merged checkpoint, the next round's parent.
    /// @param reportCID CID of the round report (checks, metrics, credits, slashes) anyone can re-verify.
    /// @param creditsRoot Merkle root of the credits.
    /// @param totalCredited Sum of the credits, in wei.
    /// @param slashes The contributors slashed in this round and why; each justified on chain.
    function postRound(
        uint256 taskId,
        string calldata mergedCID,
        string calldata reportCID,
        bytes32 creditsRoot,
        uint256 totalCredited,
        SlashOrder[] calldata slashes
    ) external whenNotPaused {
        Task storage task = _openTask(taskId);
        if (msg.sender != task.coordinator) revert TaskNotCoordinator(taskId, msg.sender);
        if (bytes(mergedCID).length == 0 || bytes(reportCID).length == 0) revert SubmissionEmptyCID();
        uint32 round = task.currentRound;
        Round storage r = _requirePhase(taskId, task, round, RoundPhase.Merging);
        if (totalCredited != 0 && creditsRoot == bytes32(0)) revert TaskInvalidParameter("creditsRoot");
        uint256 forfeit = task.hasHoldout && task.holdoutRevealedThrough <= round ? task.holdoutBondPerRound : 0;
        _requireBudgetAndStake(taskId, task, round, totalCredited, forfeit);
        if (forfeit != 0) {
            task.holdoutBondHeld -= uint96(forfeit);
            task.escrow += uint128(forfeit);
            emit HoldoutForfeited(taskId, round, forfeit);
        }
        unchecked {
            // Cannot underflow: totalCredited <= budget <= escrow.
            task.escrow -= uint128(totalCredited);
        }
        r.status = RoundStatus.Posted;
        r.challengeDeadline = uint40(_now() + task.timing.challengeDuration);
        r.creditsRoot = creditsRoot;
        r.totalCredited = uint128(totalCredited);
        bytes32 slashesDigest = slashes.length == 0 ? bytes32(0) : _postSlashes(taskId, task, r, round, slashes);
        uint32 next = round + 1;
        task.currentRound = next;
        if (next < task.rounds) _startRound(taskId, task, next);
        emit RoundPosted(taskId, round, mergedCID, reportCID, creditsRoot, totalCredited, slashesDigest);
    }

    // ─────────────────────────────────────────────────────────────── public read

    /// @notice A round's phase, deadlines, counters and credits.
    /// @param taskId The task.
    /// @param round The round index, from 0.
    function getRound(uint256 taskId, uint32 round) external view returns (RoundView memory) {
        Task storage task = _task(taskId);
        Round storage r = _rounds[taskId][round];
        return RoundView({
            phase: _phase(task, r, round),
            submitDeadline: r.submitDeadline,
            revealDeadline: r.revealDeadline,
            challengeDeadline: r.challengeDeadline,
            commits: r.commits,
            reveals: r.reveals,
            creditsRoot: r.creditsRoot,
            totalCredited: r.totalCredited,
            claimedTotal: r.claimedTotal,
            slashesDigest: r.slashesDigest,
            slashedTotal: r.slashedTotal
        });
    }

    /// @notice A contributor's slot: whether it joined, its remaining bond, first expected round,
    /// and the bitmap of rounds whose reward it claimed.
    /// @param taskId The task.
    /// @param account The contributor.
    function getContributor(uint256 taskId, address account)
        external
        view
        returns (bool joined, uint256 bond, uint32 firstRound, uint256 rewardedRounds)
    {
        Contributor storage c = _contributors[taskId][account];
        return (c.joined, c.bond, c.firstRound, c.rewardedRounds);
    }

    /// @notice A contributor's submission in a round: commitment, whether revealed, slashes posted.
    /// @dev The commitment is kept only while it is the contributor's latest: zero once it has
    /// committed in a later round (its CID and claim stay in `SubmissionRevealed`).
    /// @param taskId The task.
    /// @param round The round.
    /// @param account The contributor.
    function getSubmission(uint256 taskId, uint32 round, address account)
        external
        view
        returns (bytes32 commitment, bool revealed, uint8 slashedMask, uint256 slashedAmount)
    {
        Contributor storage c = _contributors[taskId][account];
        SlashRecord storage slashed = _slashRecords[taskId][round][account];
        commitment = c.committedRound == uint256(round) + 1 ? c.commitment : bytes32(0);
        revealed = round < MAX_ROUNDS && c.revealedRounds & (uint128(1) << round) != 0;
        return (commitment, revealed, slashed.mask, slashed.amount);
    }

    /// @dev The commitment a contributor must post for a given reveal (clients compute it the same
    /// way, off chain): keccak256(abi.encode(taskId, round, contributor, keccak256(cid), claimedMetric, salt)).
    /// Binding the task, round and sender stops replays and copied commitments.
    function _commitmentFor(
        uint256 taskId,
        uint32 round,
        address contributor,
        string calldata cid,
        int256 claimedMetric,
        bytes32 salt
    ) internal pure returns (bytes32) {
        return keccak256(abi.encode(taskId, round, contributor, keccak256(bytes(cid)), claimedMetric, salt));
    }

    // ─────────────────────────────────────────────────────────────── internal logic

    /// @dev Reverts unless `totalCredited` fits the round's budget (an equal share of the
    /// remaining escrow per remaining round, plus a forfeited holdout bond) and the coordinator's
    /// stake covers its share of the escrow.
    function _requireBudgetAndStake(
        uint256 taskId,
        Task storage task,
        uint32 round,
        uint256 totalCredited,
        uint256 forfeit
    ) private view {
        uint256 remaining = task.rounds - round;
        uint256 budget = task.escrow / remaining + forfeit;
        if (totalCredited > budget) revert EscrowInsufficientFunds(taskId, budget, totalCredited);
        uint256 stakeNeeded = (uint256(task.escrow) * _coordinatorStakeBps) / (MAX_SLASH_BPS * remaining);
        if (task.coordinatorStake < stakeNeeded) {
            revert CoordinatorStakeTooLow(taskId, task.coordinatorStake, stakeNeeded);
        }
    }

    /// @dev Takes each posted slash from the contributor's bond (held until the round is final)
    /// and records the slashes' digest and total on the round. A timeout needs a contributor
    /// expected in the round that did not reveal; the other reasons need a revealed submission
    /// (the evidence is in the round report).
    function _postSlashes(
        uint256 taskId,
        Task storage task,
        Round storage r,
        uint32 round,
        SlashOrder[] calldata slashes
    ) private returns (bytes32 digest) {
        uint128 total = 0;
        for (uint256 i = 0; i < slashes.length; ++i) {
            total += _postSlash(taskId, task, round, slashes[i].contributor, slashes[i].reason);
        }
        digest = keccak256(abi.encode(slashes));
        r.slashesDigest = digest;
        r.slashedTotal = total;
        task.slashesPending += total;
    }

    /// @dev Takes one justified slash from a contributor's bond; returns the amount taken.
    function _postSlash(uint256 taskId, Task storage task, uint32 round, address contributor, SlashReason reason)
        private
        returns (uint128 amount)
    {
        Contributor storage c = _contributors[taskId][contributor];
        if (!c.joined) revert ClaimNotContributor(taskId, contributor);
        SlashRecord storage slashed = _slashRecords[taskId][round][contributor];
        uint8 bit = uint8(1) << uint8(reason);
        if (slashed.mask & bit != 0) revert SlashAlreadyApplied(taskId, round, contributor, reason);
        bool revealed = c.revealedRounds & (uint128(1) << round) != 0;
        bool justified = reason == SlashReason.Timeout ? round >= c.firstRound && !revealed : revealed;
        if (!justified) revert SlashNotJustified(taskId, round, contributor, reason);
        uint256 due = (uint256(task.claimBond) * _rateBps(task, reason)) / MAX_SLASH_BPS;
        amount = uint128(due < c.bond ? due : c.bond);
        slashed.mask |= bit;
        unchecked {
            // Cannot overflow or underflow: amount <= c.bond, and a bond's slashes sum to at most the bond.
            c.bond -= uint96(amount);
            slashed.amount += uint96(amount);
        }
        emit ContributorSlashed(taskId, round, contributor, reason, amount);
    }

    function _rateBps(Task storage task, SlashReason reason) private view returns (uint256) {
        if (reason == SlashReason.Timeout) return task.rates.timeoutBps;
        if (reason == SlashReason.DishonestClaim) return task.rates.dishonestClaimBps;
        return task.rates.badVerificationBps;
    }
}
