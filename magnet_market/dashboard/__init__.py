"""``magnet dashboard``: a read-mostly web view of the market, its payouts and autoresearch runs.

An interface layer: pages and a JSON API over the chain layer and the stored round reports.
Guide: ``docs/dashboard.md``.
"""

from magnet_market.dashboard.app import create_app as create_app
from magnet_market.dashboard.server import serve as serve
