// SPDX-License-Identifier: MIT
// MAGNET Market (test/ForceSend.sol) v0.2.0
pragma solidity ^0.8.24;

/// @notice Test-only: forces ether into a contract that has no way to accept it.
/// @dev `selfdestruct` still moves the balance after Cancun (EIP-6780), and no contract can
/// refuse it: the market must count such ether as surplus, never as anyone's money.
contract ForceSend {
    /// @notice Send `msg.value` to `target` by self-destructing.
    /// @param target The contract that receives the ether.
    function send(address payable target) external payable {
        selfdestruct(target);
    }
}
