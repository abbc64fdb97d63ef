"""Task data and metrics shipped with MAGNET Market (no downloads): ``tinylm`` and ``digits``."""

from magnet_market.tasks.digits import DigitsData as DigitsData
from magnet_market.tasks.tinylm import TinyLMData as TinyLMData
