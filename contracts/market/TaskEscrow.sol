// SPDX-License-Identifier: MIT
// MAGNET Market (market/TaskEscrow.sol) v0.1.0
pragma solidity ^0.8.24;

import {MarketStorage} from "./MarketStorage.sol";

/// @notice Tasks and their bounty escrow: create, fund, close, refund funders pro rata.
/// @dev NOTE: a closed task's unspent escrow is not sent anywhere; each funder MUST call
/// `claimRefund` and then `withdraw`. The last funder to claim also takes the rounding dust,
/// so the refund pool always empties exactly.
abstract contract TaskEscrow is MarketStorage {
    // ─────────────────────────────────────────────────────────────── public update

    /// @notice Create a training task and escrow `msg.value` as its bounty; round 0 starts now.
    /// @dev The sponsor is the caller. Rates are basis points of the claim bond.
    /// @param specCID IPFS CID of the task spec (model config, data, metric, search space).
    /// @param coordinator The only account that may post rounds and slash.
    /// @param rounds Number of merge rounds, 1..MAX_ROUNDS.
    /// @param timing Phase durations of every round, in seconds.
    /// @param claimBond Bond a contributor locks to take a slot (also the challenge bond).
    /// @param maxContributors Slots available.
    /// @param rates Slash rates in basis points, each at most MAX_SLASH_BPS.
    /// @return taskId The new task's id (ids start at 1).
    function createTask(
        string calldata specCID,
        address coordinator,
        uint32 rounds,
        Timing calldata timing,
        uint256 claimBond,
        uint32 maxContributors,
        SlashRates calldata rates
    ) external payable whenNotPaused returns (uint256 taskId) {
        if (msg.value == 0) revert EscrowZeroAmount();
        _validateTask(specCID, coordinator, rounds, timing, claimBond, maxContributors, rates);
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
        _fund(taskId, task);
    }

    /// @notice Add `msg.value` to an open task's escrow; several funders may fund one task.
    /// @dev A funder's refund share on close is proportional to what it funded.
    /// @param taskId The task to fund.
    function fund(uint256 taskId) external payable whenNotPaused {
        if (msg.value == 0) revert EscrowZeroAmount();
        _fund(taskId, _openTask(taskId));
    }

    /// @notice Close a task, moving its unallocated escrow into the funders' refund pool.
    /// @dev Never while a challenge is pending or the last posted round's challenge window runs.
    /// Then allowed when: every round is posted (anyone); the sponsor cancels before anyone
    /// committed in the current round; or the coordinator missed the current round's merge
    /// deadline (anyone).
    /// @param taskId The task to close.
    function closeTask(uint256 taskId) external {
        Task storage task = _openTask(taskId);
        if (!_closable(taskId, task)) revert TaskNotClosable(taskId);
        task.status = TaskStatus.Closed;
        uint128 pool = task.escrow;
        task.escrow = 0;
        task.refundPool = pool;
        task.refundRemaining = pool;
        emit TaskClosed(taskId, msg.sender, pool);
    }

    /// @notice Book the caller's pro-rata share of a closed task's refund pool.
    /// @dev Pull payment: the share becomes withdrawable; call `withdraw` to receive it.
    /// @param taskId The closed task.
    function claimRefund(uint256 taskId) external {
        Task storage task = _task(taskId);
        if (task.status != TaskStatus.Closed) revert TaskNotClosed(taskId);
        uint256 funded = _funded[taskId][msg.sender];
        if (funded == 0) revert NothingToPay(msg.sender);
        _funded[taskId][msg.sender] = 0;
        uint128 amount = task.funderCount == 1
            ? task.refundRemaining
            : uint128((uint256(task.refundPool) * funded) / task.totalFunded);
        unchecked {
            // Cannot underflow: funderCount >= 1 while a funder has an unclaimed share, and the
            // shares of all but the last funder sum to at most refundPool == initial refundRemaining.
            task.funderCount -= 1;
            task.refundRemaining -= amount;
        }
        _credit(msg.sender, amount);
        emit RefundClaimed(taskId, msg.sender, amount);
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
            refundRemaining: task.refundRemaining,
            timing: task.timing,
            rates: task.rates,
            specCID: task.specCID
        });
    }

    /// @notice What `funder` put into a task and has not yet reclaimed.
    /// @dev Zero after the funder's refund is claimed.
    /// @param taskId The task.
    /// @param funder The funder.
    function fundedBy(uint256 taskId, address funder) external view returns (uint256) {
        return _funded[taskId][funder];
    }

    // ─────────────────────────────────────────────────────────────── internal logic

    function _fund(uint256 taskId, Task storage task) private {
        if (_funded[taskId][msg.sender] == 0) task.funderCount += 1;
        _funded[taskId][msg.sender] += msg.value;
        task.escrow += uint128(msg.value);
        task.totalFunded += uint128(msg.value);
        emit TaskFunded(taskId, msg.sender, msg.value);
    }

    function _closable(uint256 taskId, Task storage task) private view returns (bool) {
        if (task.pendingChallenges != 0) return false;
        uint32 current = task.currentRound;
        if (current > 0) {
            // The last posted round's challenge window must be over: closing ends challenges.
            RoundPhase previous = _phase(task, _rounds[taskId][current - 1], current - 1);
            if (previous != RoundPhase.Final && previous != RoundPhase.Voided) return false;
        }
        if (current == task.rounds) return true;
        Round storage r = _rounds[taskId][current];
        if (msg.sender == task.sponsor && r.commits == 0) return true;
        return block.timestamp >= uint256(r.revealDeadline) + task.timing.mergeDuration;
    }

    function _validateTask(
        string calldata specCID,
        address coordinator,
        uint32 rounds,
        Timing calldata timing,
        uint256 claimBond,
        uint32 maxContributors,
        SlashRates calldata rates
    ) private pure {
        if (bytes(specCID).length == 0) revert TaskInvalidParameter("specCID");
        if (coordinator == address(0)) revert TaskInvalidParameter("coordinator");
        if (rounds == 0 || rounds > MAX_ROUNDS) revert TaskInvalidParameter("rounds");
        if (maxContributors == 0) revert TaskInvalidParameter("maxContributors");
        // Every bond the task can hold at once (a claim bond per slot, a challenge bond per round)
        // must fit the packed uint96 `bondsHeld`.
        if (claimBond > type(uint96).max || claimBond * (uint256(maxContributors) + rounds) > type(uint96).max) {
            revert TaskInvalidParameter("claimBond");
        }
        if (timing.submitDuration == 0 || timing.submitDuration > MAX_PHASE_DURATION) {
            revert TaskInvalidParameter("submitDuration");
        }
        if (timing.revealDuration == 0 || timing.revealDuration > MAX_PHASE_DURATION) {
            revert TaskInvalidParameter("revealDuration");
        }
        if (timing.mergeDuration == 0 || timing.mergeDuration > MAX_PHASE_DURATION) {
            revert TaskInvalidParameter("mergeDuration");
        }
        if (timing.challengeDuration > MAX_PHASE_DURATION) revert TaskInvalidParameter("challengeDuration");
        if (rates.timeoutBps > MAX_SLASH_BPS) revert TaskInvalidParameter("timeoutBps");
        if (rates.dishonestClaimBps > MAX_SLASH_BPS) revert TaskInvalidParameter("dishonestClaimBps");
        if (rates.badVerificationBps > MAX_SLASH_BPS) revert TaskInvalidParameter("badVerificationBps");
    }
}
