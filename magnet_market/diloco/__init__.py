"""DiLoCo merging, checkpoint verification and contribution credit (the coordinator's science).

Paper: Douillard et al., "DiLoCo: Distributed Low-Communication Training of Language Models"
(arXiv:2311.08105). No chain or storage here: inputs are paths, bytes, tensors and dataclasses;
outputs are checkpoints and a round report. See docs/diloco.md.
"""

from magnet_market.diloco.aggregate import AggregationConfig as AggregationConfig
from magnet_market.diloco.credit import largest_remainder as largest_remainder
from magnet_market.diloco.errors import DilocoError as DilocoError
from magnet_market.diloco.errors import MergeInputError as MergeInputError
from magnet_market.diloco.errors import NonFiniteMergeError as NonFiniteMergeError
from magnet_market.diloco.outer import DilocoMerger as DilocoMerger
from magnet_market.diloco.outer import MergeResult as MergeResult
from magnet_market.diloco.outer import OuterConfig as OuterConfig
from magnet_market.diloco.report import RoundReport as RoundReport
from magnet_market.diloco.report import SubmissionReport as SubmissionReport
from magnet_market.diloco.round import CreditSplit as CreditSplit
from magnet_market.diloco.round import RoundConfig as RoundConfig
from magnet_market.diloco.round import RoundOutcome as RoundOutcome
from magnet_market.diloco.round import run_round as run_round
from magnet_market.diloco.round import with_merged_cid as with_merged_cid
from magnet_market.diloco.verify import Check as Check
from magnet_market.diloco.verify import Metric as Metric
from magnet_market.diloco.verify import RoundParent as RoundParent
from magnet_market.diloco.verify import Submission as Submission
from magnet_market.diloco.verify import Verdict as Verdict
from magnet_market.diloco.verify import VerifyRules as VerifyRules
from magnet_market.diloco.verify import verify as verify
