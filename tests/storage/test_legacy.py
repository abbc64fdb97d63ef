"""The legacy ``ipfshttpclient`` as a backend, against the real daemon."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from magnet_market.storage import (
    CHUNK_SIZE,
    ContentNotFoundError,
    ContentStore,
    LocalStore,
    cid_of_bytes,
)
from magnet_market.storage.devnode import DevNode
from magnet_market.storage.legacy import IpfsHttpClientStore

# ipfshttpclient 0.7 passes urllib3 a `strict` argument that urllib3 2.x warns about.
pytestmark = pytest.mark.filterwarnings("ignore:The 'strict' parameter:FutureWarning")


@pytest.fixture
def legacy(ipfs_node: DevNode) -> Iterator[IpfsHttpClientStore]:
    import ipfshttpclient

    # connect() would refuse the 0.18 daemon (it accepts < 0.8); the constructor does not check.
    client = ipfshttpclient.Client(f"/ip4/127.0.0.1/tcp/{ipfs_node.api_port}/http")
    try:
        yield IpfsHttpClientStore(client, timeout=2)
    finally:
        client.close()


@pytest.mark.parametrize("version", [0, 1])
def test_add_cat_pin(legacy: IpfsHttpClientStore, version: int) -> None:
    assert isinstance(legacy, ContentStore)
    data = os.urandom(2 * CHUNK_SIZE + 1)
    cid = legacy.add_bytes(data, cid_version=version, pin=False)
    assert cid == cid_of_bytes(data, version)
    assert legacy.get(cid) == data and legacy.has(cid)
    assert cid not in legacy.pins()
    legacy.pin(cid)
    assert cid in legacy.pins()
    legacy.unpin(cid)
    assert cid not in legacy.pins()


def test_paths_and_car(legacy: IpfsHttpClientStore, tmp_path: Path) -> None:
    src = tmp_path / "ckpt"
    src.mkdir()
    (src / "model.bin").write_bytes(os.urandom(CHUNK_SIZE + 3))
    (src / "meta.json").write_text("{}")
    local = LocalStore(tmp_path / "local")
    model = legacy.add_path(src / "model.bin", cid_version=0)
    assert model == cid_of_bytes((src / "model.bin").read_bytes(), 0)
    cid = legacy.add_path(src, wrap=True)
    assert cid == local.add_path(src, wrap=True)
    legacy.get_to_path(cid, tmp_path / "out")
    assert (tmp_path / "out" / "ckpt" / "meta.json").read_text() == "{}"

    car_file = io.BytesIO()
    legacy.export_car(cid, car_file)
    fresh = LocalStore(tmp_path / "fresh")
    assert fresh.import_car(io.BytesIO(car_file.getvalue())) == [cid]
    offline = local.add_bytes(os.urandom(1000))
    out = io.BytesIO()
    local.export_car(offline, out)
    assert legacy.import_car(io.BytesIO(out.getvalue())) == [offline]
    assert legacy.has(offline)


def test_missing_content(legacy: IpfsHttpClientStore) -> None:
    absent = cid_of_bytes(os.urandom(32))
    assert not legacy.has(absent)
    with pytest.raises(ContentNotFoundError):
        legacy.get(absent)
