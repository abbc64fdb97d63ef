"""BitNet b1.58 engine: ternary-weight training in PyTorch and packed 2-bit CPU inference.

Papers: "The Era of 1-bit LLMs" (arXiv:2402.17764), "BitNet b1.58 2B4T Technical Report"
(arXiv:2504.12285); reference code: microsoft/BitNet. See docs/bitnet.md.
"""

from magnet_market.bitnet import checkpoint as checkpoint
from magnet_market.bitnet.checkpoint import Checkpoint as Checkpoint
from magnet_market.bitnet.errors import BitNetError as BitNetError
from magnet_market.bitnet.errors import CheckpointError as CheckpointError
from magnet_market.bitnet.errors import KernelUnavailableError as KernelUnavailableError
from magnet_market.bitnet.export import export_packed as export_packed
from magnet_market.bitnet.export import load_model as load_model
from magnet_market.bitnet.export import to_kernel_model as to_kernel_model
from magnet_market.bitnet.generate import SampleConfig as SampleConfig
from magnet_market.bitnet.generate import generate as generate
from magnet_market.bitnet.layers import BitLinear as BitLinear
from magnet_market.bitnet.layers import BitLinearKernel as BitLinearKernel
from magnet_market.bitnet.model import ClassifierConfig as ClassifierConfig
from magnet_market.bitnet.model import MLPClassifier as MLPClassifier
from magnet_market.bitnet.model import Transformer as Transformer
from magnet_market.bitnet.model import TransformerConfig as TransformerConfig
from magnet_market.bitnet.model import build_model as build_model
from magnet_market.bitnet.train import OptimConfig as OptimConfig
from magnet_market.bitnet.train import TrainConfig as TrainConfig
from magnet_market.bitnet.train import TrainResult as TrainResult
from magnet_market.bitnet.train import train as train
from magnet_market.bitnet.train import training_checkpoint as training_checkpoint
