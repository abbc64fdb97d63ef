"""Autoresearch: the contributor's automated experiment loop (see docs/autoresearch.md).

An experiment is a configuration diff against the current best, trained under a fixed budget and
scored by the pinned evaluation (``evaluate.py``); phases sweep one group of knobs at a time;
a change is kept only when it beats the measured run-to-run noise. After karpathy/autoresearch
and the MAGNET paper's 10-phase BitNet sweep.
"""

from magnet_market.autoresearch.config import Config as Config
from magnet_market.autoresearch.errors import AutoresearchError as AutoresearchError
from magnet_market.autoresearch.errors import ConfigurationError as ConfigurationError
from magnet_market.autoresearch.errors import DefaultCrashedError as DefaultCrashedError
from magnet_market.autoresearch.errors import ProposalRejectedError as ProposalRejectedError
from magnet_market.autoresearch.errors import RunMismatchError as RunMismatchError
from magnet_market.autoresearch.errors import SearchSpaceError as SearchSpaceError
from magnet_market.autoresearch.evaluate import TASKS as TASKS
from magnet_market.autoresearch.evaluate import Budget as Budget
from magnet_market.autoresearch.ledger import Ledger as Ledger
from magnet_market.autoresearch.ledger import Record as Record
from magnet_market.autoresearch.loop import Autoresearch as Autoresearch
from magnet_market.autoresearch.loop import Observer as Observer
from magnet_market.autoresearch.loop import Settings as Settings
from magnet_market.autoresearch.loop import best_of as best_of
from magnet_market.autoresearch.recipes import DEFAULTS as DEFAULTS
from magnet_market.autoresearch.recipes import SPACES as SPACES
from magnet_market.autoresearch.space import SearchSpace as SearchSpace
