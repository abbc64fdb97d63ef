"""MAGNET Market: a smart-contract marketplace for decentralized BitNet training.

Layers (dependencies point down only): interface (``cli``) → roles → domain
(``tasks``, ``bitnet``, ``diloco``, ``autoresearch``) → adapters (``chain``, ``storage``).
"""

__version__ = "0.1.0"
