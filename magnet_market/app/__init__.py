"""The application layer: a :class:`Session` and the roles, the only door to the adapters.

The CLI, the dashboard and the demo call these and render what they return; the roles glue the
domain (tasks, BitNet, DiLoCo, autoresearch) to the adapters (chain, storage). Types the
interface renders are re-exported here, so it never imports an adapter. Guide:
``docs/architecture.md``.
"""

from magnet_market.app.auditor import Audit as Audit
from magnet_market.app.auditor import Auditor as Auditor
from magnet_market.app.content import TaskContentError as TaskContentError
from magnet_market.app.contributor import Contributor as Contributor
from magnet_market.app.coordinator import Coordinator as Coordinator
from magnet_market.app.judging import credit_tree as credit_tree
from magnet_market.app.ledger import TaskLedger as TaskLedger
from magnet_market.app.market_view import MarketView as MarketView
from magnet_market.app.owner import Owner as Owner
from magnet_market.app.session import Session as Session
from magnet_market.app.sponsor import Sponsor as Sponsor
from magnet_market.app.validator import Ballot as Ballot
from magnet_market.app.validator import Validator as Validator
from magnet_market.chain.accounts import Keystore as Keystore
from magnet_market.chain.accounts import devnet_account as devnet_account
from magnet_market.chain.devnet import Devnet as Devnet
from magnet_market.chain.merkle import CreditTree as CreditTree
from magnet_market.chain.types import DEVNET_FLOORS as DEVNET_FLOORS
from magnet_market.chain.types import DEVNET_RULES as DEVNET_RULES
from magnet_market.chain.types import DisputeInfo as DisputeInfo
from magnet_market.chain.types import DisputeOutcome as DisputeOutcome
from magnet_market.chain.types import Floors as Floors
from magnet_market.chain.types import MarketRules as MarketRules
from magnet_market.chain.types import SlashReason as SlashReason
from magnet_market.chain.types import TaskInfo as TaskInfo
