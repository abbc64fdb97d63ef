// SPDX-License-Identifier: MIT
// MAGNET Market (test/ReentrantReceiver.sol) v0.1.0
pragma solidity ^0.8.24;

/// @notice Test-only hostile contributor: re-enters the market when it receives ether.
/// @dev Used to show that `withdraw` and `claimReward` cannot pay twice.
contract ReentrantReceiver {
    /// @dev The market under attack.
    address public immutable market;
    /// @dev Calldata replayed on receipt (e.g. `withdraw()` or `claimReward(...)`).
    bytes public reentryCall;
    /// @dev Whether the reentrant call succeeded (it must not).
    bool public reentrySucceeded;
    /// @dev Revert data of the failed reentrant call.
    bytes public reentryError;
    /// @dev Refuse payments entirely, to test a failing receiver.
    bool public refusePayments;

    /// @param market_ The market under attack.
    constructor(address market_) {
        market = market_;
    }

    /// @notice Set what to replay on the next receipt and whether to refuse payments.
    /// @dev Test hook.
    function arm(bytes calldata call_, bool refuse) external {
        reentryCall = call_;
        refusePayments = refuse;
    }

    /// @notice Forward a call to the market with value (claim, commit, reveal, withdraw ...).
    /// @dev Bubbles up the market's revert data so tests see the custom error.
    function act(bytes calldata data) external payable returns (bytes memory) {
        (bool ok, bytes memory ret) = market.call{value: msg.value}(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 32), mload(ret))
            }
        }
        return ret;
    }

    receive() external payable {
        if (refusePayments) revert("refused");
        if (reentryCall.length != 0) {
            (bool ok, bytes memory ret) = market.call(reentryCall);
            reentrySucceeded = ok;
            reentryError = ret;
        }
    }
}
