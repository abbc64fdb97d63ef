"""The market's owner: deploys a market and holds its pause switch (validators settle disputes)."""

from __future__ import annotations

from web3.types import TxReceipt

from magnet_market.app.session import Session
from magnet_market.chain.deploy import Deployment, deploy_market
from magnet_market.chain.types import Floors, MarketRules


class Owner:
    """Who deploys the market and holds its owner key (a multisig on public chains).

    Args:
        session: the owner's session (it signs).
    """

    def __init__(self, session: Session) -> None:
        self.session = session

    def deploy(
        self,
        owner: str | None = None,
        save: bool = True,
        floors: Floors | None = None,
        rules: MarketRules | None = None,
    ) -> Deployment:
        """Deploy a new market owned by ``owner`` (default: the deployer) with ``floors`` and
        ``rules`` (default: the network's, see ``deploy_market``) and record it under
        ``$MAGNET_HOME/deployments`` (``save``), where later sessions find it."""
        return deploy_market(
            self.session.connection, self.session.signer, owner, save, floors, rules
        )

    def floors(self) -> Floors:
        """The floors of the session's market."""
        return self.session.market.floors()

    def rules(self) -> MarketRules:
        """The dispute and payment rules of the session's market."""
        return self.session.market.rules()

    def pause(self) -> TxReceipt:
        """Stop the market's clocks and money-moving actions (for at most a week)."""
        return self.session.signing_market.pause()

    def unpause(self) -> TxReceipt:
        """Start the market's clocks again."""
        return self.session.signing_market.unpause()
