"""A checked connection to a node: reachable, on the expected chain, with clear errors if not."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import TypeVar

import requests
from web3 import HTTPProvider, Web3
from web3.providers.rpc.utils import ExceptionRetryConfiguration

from magnet_market.chain.errors import ChainIdMismatchError, RPCUnavailableError
from magnet_market.config import Network

T = TypeVar("T")

#: Transport failures that mean "the node is not there", as opposed to an RPC error answer.
TRANSPORT_ERRORS = (requests.exceptions.ConnectionError, requests.exceptions.Timeout)


class Connection:
    """A Web3 instance for ``network`` whose chain id has been checked.

    Args:
        network: where to connect.
        timeout: seconds per HTTP request.
    """

    def __init__(self, network: Network, timeout: float = 30.0) -> None:
        self.network = network
        provider = HTTPProvider(
            network.rpc_url,
            request_kwargs={"timeout": timeout},
            # Two quick retries, then a clear error: an unreachable node must not hang a command.
            exception_retry_configuration=ExceptionRetryConfiguration(
                errors=TRANSPORT_ERRORS, retries=2, backoff_factor=0.1
            ),
        )
        self.w3 = Web3(provider)

    @cached_property
    def chain_id(self) -> int:
        """The node's chain id, after checking it equals the configured one."""
        actual = self.rpc(lambda: self.w3.eth.chain_id)
        expected = self.network.chain_id
        if expected is not None and actual != expected:
            raise ChainIdMismatchError(
                f"{self.network.name} expects chain id {expected} but the node at "
                f"{self.network.rpc_url} reports {actual}; refusing to continue"
            )
        return actual

    def rpc(self, call: Callable[[], T]) -> T:
        """Run ``call``, turning transport failures into :class:`RPCUnavailableError`."""
        try:
            return call()
        except TRANSPORT_ERRORS as e:
            raise RPCUnavailableError(
                f"no answer from {self.network.rpc_url} ({type(e).__name__}); is the node running?"
            ) from None
