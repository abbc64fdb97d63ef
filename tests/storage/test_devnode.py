"""The dev node refuses to pretend: a missing daemon binary is a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from magnet_market.storage.devnode import DevNode, DevNodeError


def test_missing_binary_is_a_clear_error(tmp_path: Path) -> None:
    node = DevNode(tmp_path, binary=tmp_path / "no-such-jsipfs")
    with pytest.raises(DevNodeError, match=r"not found at .*no-such-jsipfs.*make install"):
        node.start()
    node.stop()  # stopping a node that never started is harmless


def test_the_session_node_is_offline_and_on_loopback(ipfs_node: DevNode) -> None:
    assert ipfs_node.api_url.startswith("http://127.0.0.1:")
    config = (ipfs_node.workdir / "config.json").read_text()
    assert '"Swarm": []' in config and '"Bootstrap": []' in config
