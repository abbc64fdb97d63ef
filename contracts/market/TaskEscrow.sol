// SPDX-License-Identifier: MIT
// MAGNET Market (market/TaskEscrow.sol) v0.6.0
pragma solidity ^0.8.24;

import {MarketStorage} from "./MarketStorage.sol";

/// @notice Tasks and their bounty escrow: create, fund, close, refund each funder its own share;
/// the coordinator's stake.
/// @dev Funders own the escrow in shares bought at its value when they fund (as an ERC4626
/// vault's depositors do): what a round spends, and what slashes add, moves every holder's value
/// alike, so a late co-funder never pays for rounds before it and buys no part of earlier
/// slashes. NOTE: a closed task's unspent escrow is not sent anywhere; each funder MUST call
/// `claimRefund` and then `withdraw`. Each refund is its shares' part of what remains, so the
/// last funder takes the rounding dust and the refund pool always empties exactly.
abstract contract TaskEscrow is MarketStorage {
    // ─────────────────────────────────────────────────────────────── public update

    /// @notice Create a training task and escrow `msg.value` as its bounty (less the holdout bond);
    /// round 0 starts now.
    /// @dev The sponsor is the caller. Rates are basis points of the claim bond. With a sealed
    /// holdout, `msg.value` also carries `holdout.bondPerRound * rounds`, held apart from the bounty.
    /// @param specCID IPFS CID of the task spec (model config, data, metric, search space).
    /// @param coordinator The only account that may post rounds (with their slashes), against its stake.
    /// @param rounds Number of merge rounds, 1..MAX_ROUNDS.
    /// @param timing Phase durations of every round, in seconds.
    /// @param claimBond Bond a contributor locks to take a slot (also the challenge bond).
    /// @param maxContributors Slots available.
    /// @param rates Slash rates in basis points, each at most MAX_SLASH_BPS.
    /// @param holdout The sealed holdout's key-chain head, reveal window and bond (all zero: none).
    /// @return taskId The new task's id (ids start at 1).
    function createTask(
        string calldata specCID,
        address coordinator,
        uint32 rounds,
        Timing calldata timing,
        uint256 claimBond,
        uint32 maxContributors,
        SlashRates calldata rates,
        HoldoutTerms calldata holdout
    ) external payable whenNotPaused returns (uint256 taskId) {
        _validateTask(specCID, coordinator, rounds, timing, claimBond, maxContributors, rates);
        uint256 holdoutBond = _validateHoldout(rounds, holdout);
        if (msg.value <= holdoutBond) revert EscrowZeroAmount();
        unchecked {
            // Cannot overflow: one task per transaction.
            taskId = ++_taskCount;
        }
        Task storage task = _tasks[taskId];
        task.sponsor = msg.sender;
        task.coordinator = coordinator;
        task.status = TaskStatus.Open;
        task.rounds = rounds;
        task.maxContributors = maxContributors;
        task.claimBond = uint96(claimBond);
        task.timing = timing;
        task.rates = rates;
        task.specCID = specCID;
        _startRound(taskId, task, 0);
        emit TaskCreated(taskId, msg.sender, coordinator, specCID, rounds, claimBond, maxContributors, timing, rates);
        if (holdoutBond != 0) {
            task.hasHoldout = true;
            task.holdoutBondPerRound = holdout.bondPerRound;
            task.holdoutBondHeld = uint96(holdoutBond);
            task.holdoutDuration = uint32(holdout.revealDuration);
            task.holdoutLastKey = holdout.head;
            emit HoldoutSealed(taskId, holdout.head, holdout.revealDuration, holdout.bondPerRound);
        }
        _fund(taskId, task, msg.value - holdoutBond);
    }

    /// @notice Add `msg.value` to an open task's escrow; several funders may fund one task.
    /// @dev The funder buys escrow shares at the escrow's current value, so only while that value
    /// is settled: refused while a posted round can still be challenged (an upheld challenge
    /// returns its credits to the escrow, which belong to those who funded before it), and once
    /// every round is posted (such funding could only be refunded, or take others' slashes).
    /// @param taskId The task to fund.
    function fund(uint256 taskId) external payable whenNotPaused {
        if (msg.value == 0) revert EscrowZeroAmount();
        Task storage task = _openTask(taskId);
        if (task.currentRound == task.rounds) revert TaskFundingClosed(taskId);
        if (!_postedRoundsSettled(taskId, task)) revert TaskFundingWaitsForChallenges(taskId);
        // Slashes of final rounds join the escrow first: they belong to those who funded before.
        _settleSlashes(task);
        _fund(taskId, task, msg.value);
    }

    /// @notice Add `msg.value` to the caller's stake as the task's coordinator.
    /// @dev Posting a round needs a stake of `coordinatorStakeBps` of the round's budget; a
    /// dispute that overturns a round pays the whole stake to its winners. It comes back with
    /// `releaseStake` once the task is closed.
    /// @param taskId The task the caller coordinates.
    function stakeCoordinator(uint256 taskId) external payable whenNotPaused {
        if (msg.value == 0) revert EscrowZeroAmount();
        Task storage task = _openTask(taskId);
        if (msg.sender != task.coordinator) revert TaskNotCoordinator(taskId, msg.sender);
        uint256 stake = task.coordinatorStake + msg.value;
        if (stake > type(uint96).max) revert TaskInvalidParameter("coordinatorStake");
        task.coordinatorStake = uint96(stake);
        emit CoordinatorStaked(taskId, msg.sender, msg.value, stake);
    }

    /// @notice Book the coordinator's remaining stake back to it once the task is closed.
    /// @dev Closing waits for every dispute, so nothing can claim the stake any more.
    /// @param taskId The closed task.
    function releaseStake(uint256 taskId) external {
        Task storage task = _task(taskId);
        if (task.status != TaskStatus.Closed) revert TaskNotClosed(taskId);
        if (msg.sender != task.coordinator) revert TaskNotCoordinator(taskId, msg.sender);
        uint96 stake = task.coordinatorStake;
        if (stake == 0) revert NothingToPay(msg.sender);
        task.coordinatorStake = 0;
        _credit(msg.sender, stake);
        emit StakeReleased(taskId, msg.sender, stake);
    }

    /// @notice Close a task, moving its unallocated escrow and final slashes into the funders'
    /// refund pool, and booking the holdout bond of rounds never reached back to the sponsor.
    /// @dev Never while paused, while a dispute is open or while the last posted round's challenge window runs.
    /// Then allowed when: every round is posted (anyone); the sponsor cancels while the current
    /// round still takes submissions and nobody has committed (before any contributor of that
    /// round can be slashed for a timeout, so every bond comes back in full); or the coordinator
    /// missed the current round's merge deadline (anyone).
    /// @param taskId The task to close.
    function closeTask(uint256 taskId) external whenNotPaused {
        Task storage task = _openTask(taskId);
        if (!_closable(taskId, task)) revert TaskNotClosable(taskId);
        _settleSlashes(task);
        task.status = TaskStatus.Closed;
        uint128 pool = task.escrow;
        task.escrow = 0;
        task.refundRemaining = pool;
        task.sharesRemaining = task.totalShares;
        emit TaskClosed(taskId, msg.sender, pool);
        uint96 bond = task.holdoutBondHeld;
        if (bond != 0) {
            task.holdoutBondHeld = 0;
            _credit(task.sponsor, bond);
            emit HoldoutBondReturned(taskId, task.sponsor, bond);
        }
    }

    /// @notice Book the refund the caller's escrow shares are worth in a closed task.
    /// @dev Pull payment: the refund becomes withdrawable; call `withdraw` to receive it.
    /// @param taskId The closed task.
    function claimRefund(uint256 taskId) external {
        Task storage task = _task(taskId);
        if (task.status != TaskStatus.Closed) revert TaskNotClosed(taskId);
        uint256 shares = _shares[taskId][msg.sender];
        if (shares == 0) revert NothingToPay(msg.sender);
        _shares[taskId][msg.sender] = 0;
        uint256 remaining = task.sharesRemaining;
        // This funder's part of what is left: the last one takes the rounding dust.
        uint128 amount = uint128((uint256(task.refundRemaining) * shares) / remaining);
        unchecked {
            // Cannot underflow: shares <= sharesRemaining (the holders' shares sum to it), and
            // amount <= refundRemaining because shares / remaining <= 1.
            task.sharesRemaining = remaining - shares;
            task.refundRemaining -= amount;
        }
        _credit(msg.sender, amount);
        emit RefundClaimed(taskId, msg.sender, amount, shares);
    }

    // ─────────────────────────────────────────────────────────────── public read

    /// @notice Number of tasks created; ids run from 1 to this value.
    /// @dev Lets indexers enumerate tasks without events.
    function taskCount() external view returns (uint256) {
        return _taskCount;
    }

    /// @notice A task's parameters, status and balances.
    /// @dev Reverts with TaskNotFound for unknown ids.
    /// @param taskId The task.
    function getTask(uint256 taskId) external view returns (TaskView memory view_) {
        Task storage task = _task(taskId);
        view_ = TaskView({
            sponsor: task.sponsor,
            coordinator: task.coordinator,
            status: task.status,
            rounds: task.rounds,
            currentRound: task.currentRound,
            contributorCount: task.contributorCount,
            maxContributors: task.maxContributors,
            claimBond: task.claimBond,
            escrow: task.escrow,
            reserved: _reserved(taskId, task),
            bondsHeld: task.bondsHeld,
            totalFunded: task.totalFunded,
            totalShares: task.totalShares,
            refundRemaining: task.refundRemaining,
            coordinatorStake: task.coordinatorStake,
            slashesPending: task.slashesPending,
            openDisputes: task.openDisputes,
            timing: task.timing,
            rates: task.rates,
            specCID: task.specCID
        });
    }

    /// @notice A task's sealed holdout: the last key revealed, how many rounds' keys are on chain,
    /// the reveal window and the sponsor's bond (all zero for a task without one).
    /// @param taskId The task.
    function getHoldout(uint256 taskId) external view returns (HoldoutView memory) {
        Task storage task = _task(taskId);
        return HoldoutView({
            lastKey: task.holdoutLastKey,
            revealedThrough: task.holdoutRevealedThrough,
            revealDuration: task.holdoutDuration,
            bondPerRound: task.holdoutBondPerRound,
            bondHeld: task.holdoutBondHeld
        });
    }

    /// @notice A funder's escrow shares in a task and what they are worth now (zero once its
    /// refund is claimed).
    /// @param taskId The task.
    /// @param funder The funder.
    /// @return shares The funder's shares.
    /// @return value Wei they are worth: a part of the escrow while open, of the refunds once closed.
    function funderShares(uint256 taskId, address funder) external view returns (uint256 shares, uint256 value) {
        Task storage task = _task(taskId);
        shares = _shares[taskId][funder];
        if (shares == 0) return (0, 0);
        value = task.status == TaskStatus.Open
            ? (uint256(task.escrow) * shares) / task.totalShares
            : (uint256(task.refundRemaining) * shares) / task.sharesRemaining;
    }

    // ─────────────────────────────────────────────────────────────── internal logic

    /// @dev Buys escrow shares for `amount` at the escrow's current value (with the virtual offset).
    function _fund(uint256 taskId, Task storage task, uint256 amount) private {
        uint256 shares = (amount * (task.totalShares + VIRTUAL_SHARES)) / (uint256(task.escrow) + 1);
        if (shares == 0) revert EscrowFundingTooSmall(taskId, amount);
        _shares[taskId][msg.sender] += shares;
        task.totalShares += shares;
        task.escrow += uint128(amount);
        task.totalFunded += uint128(amount);
        emit TaskFunded(taskId, msg.sender, amount, shares);
    }

    /// @dev Moves the slashes of final rounds from the held bonds into the escrow. Called only when
    /// every posted round is settled, so every pending slash is final.
    function _settleSlashes(Task storage task) private {
        uint128 slashes = task.slashesPending;
        if (slashes == 0) return;
        task.slashesPending = 0;
        task.bondsHeld -= uint96(slashes);
        task.escrow += slashes;
    }

    /// @dev No dispute is open and the last posted round's challenge window is over: every
    /// posted round's credits are final or voided, so the escrow's value is settled.
    function _postedRoundsSettled(uint256 taskId, Task storage task) private view returns (bool) {
        if (task.openDisputes != 0) return false;
        uint32 current = task.currentRound;
        if (current == 0) return true;
        RoundPhase previous = _phase(task, _rounds[taskId][current - 1], current - 1);
        return previous == RoundPhase.Final || previous == RoundPhase.Voided;
    }

    function _closable(uint256 taskId, Task storage task) private view returns (bool) {
        // Closing ends challenges: every posted round must be past its window first.
        if (!_postedRoundsSettled(taskId, task)) return false;
        uint32 current = task.currentRound;
        if (current == task.rounds) return true;
        Round storage r = _rounds[taskId][current];
        if (msg.sender == task.sponsor && r.commits == 0 && _phase(task, r, current) == RoundPhase.Submitting) {
            return true;
        }
        // The coordinator missed the merge window, which follows the holdout's reveal window.
        return _now() >= uint256(r.revealDeadline) + task.holdoutDuration + task.timing.mergeDuration;
    }

    function _validateTask(
        string calldata specCID,
        address coordinator,
        uint32 rounds,
        Timing calldata timing,
        uint256 claimBond,
        uint32 maxContributors,
        SlashRates calldata rates
    ) private view {
        if (bytes(specCID).length == 0) revert TaskInvalidParameter("specCID");
        if (coordinator == address(0)) revert TaskInvalidParameter("coordinator");
        if (rounds == 0 || rounds > MAX_ROUNDS) revert TaskInvalidParameter("rounds");
        if (maxContributors == 0) revert TaskInvalidParameter("maxContributors");
        // Every bond the task can hold at once (a claim bond per slot, a challenge bond per round)
        // must fit the packed uint96 `bondsHeld`.
        if (claimBond > type(uint96).max || claimBond * (uint256(maxContributors) + rounds) > type(uint96).max) {
            revert TaskInvalidParameter("claimBond");
        }
        _requireDuration("submitDuration", timing.submitDuration, false);
        _requireDuration("revealDuration", timing.revealDuration, false);
        _requireDuration("mergeDuration", timing.mergeDuration, false);
        _requireDuration("challengeDuration", timing.challengeDuration, true);
        _requireFloor("submitDuration", timing.submitDuration, _minSubmitDuration);
        _requireFloor("revealDuration", timing.revealDuration, _minRevealDuration);
        _requireFloor("mergeDuration", timing.mergeDuration, _minMergeDuration);
        _requireFloor("challengeDuration", timing.challengeDuration, _minChallengeDuration);
        _requireFloor("claimBond", claimBond, _minClaimBond);
        if (rates.timeoutBps > MAX_SLASH_BPS) revert TaskInvalidParameter("timeoutBps");
        if (rates.dishonestClaimBps > MAX_SLASH_BPS) revert TaskInvalidParameter("dishonestClaimBps");
        if (rates.badVerificationBps > MAX_SLASH_BPS) revert TaskInvalidParameter("badVerificationBps");
    }

    /// @dev Checks the holdout terms; returns the bond they hold (0: no holdout). One error for
    /// every term: the client checks each before sending and names it.
    function _validateHoldout(uint32 rounds, HoldoutTerms calldata holdout) private pure returns (uint256 bond) {
        bond = uint256(holdout.bondPerRound) * rounds;
        bool valid = holdout.head == bytes32(0)
            ? holdout.revealDuration == 0 && bond == 0
            : holdout.revealDuration != 0 && holdout.revealDuration <= MAX_PHASE_DURATION && bond != 0
                && bond <= type(uint96).max;
        if (!valid) revert TaskInvalidParameter("holdout");
    }

    function _requireFloor(string memory parameter, uint256 value, uint256 floor) private pure {
        if (value < floor) revert TaskBelowFloor(parameter, value, floor);
    }
}
