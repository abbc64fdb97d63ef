"""The market's owner: deploys a market, settles challenges, pauses; and the local devnet."""

from __future__ import annotations

from web3.types import TxReceipt

from magnet_market.app.session import Session
from magnet_market.chain.deploy import Deployment, deploy_market
from magnet_market.chain.types import Floors


class Owner:
    """Who deploys the market and holds its owner key (a multisig on public chains).

    Args:
        session: the owner's session (it signs).
    """

    def __init__(self, session: Session) -> None:
        self.session = session

    def deploy(
        self, owner: str | None = None, save: bool = True, floors: Floors | None = None
    ) -> Deployment:
        """Deploy a new market owned by ``owner`` (default: the deployer) with ``floors`` (default:
        the network's, see ``deploy_market``) and record it under ``$MAGNET_HOME/deployments``
        (``save``), where later sessions find it."""
        return deploy_market(self.session.connection, self.session.signer, owner, save, floors)

    def floors(self) -> Floors:
        """The floors of the session's market."""
        return self.session.market.floors()

    def resolve_challenge(self, task_id: int, round_: int, upheld: bool) -> TxReceipt:
        """Settle a round's challenge: upheld voids the round's credits, rejected keeps them."""
        return self.session.signing_market.resolve_challenge(task_id, round_, upheld)
