"""Task data and metrics shipped with MAGNET Market (no downloads): ``tinylm``, ``digits`` and
``series`` (autoresearch only so far)."""

from magnet_market.tasks.digits import DigitsData as DigitsData
from magnet_market.tasks.tinylm import TinyLMData as TinyLMData
