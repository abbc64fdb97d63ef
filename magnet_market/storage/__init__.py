"""Content-addressed storage: node-identical CIDs, an embedded block store, IPFS RPC, CAR files.

Callers hold a :class:`ContentStore` (``LocalStore``, ``KuboStore`` or, for code that already
has an ``ipfshttpclient.Client``, ``IpfsHttpClientStore``) and never care which; all of them
compute and verify CIDs locally. Guide: ``docs/storage.md``.
Storage never imports ``chain`` or ``bitnet``.
"""

from magnet_market.storage.cid import CID as CID
from magnet_market.storage.dag import CHUNK_SIZE as CHUNK_SIZE
from magnet_market.storage.dag import MAX_LINKS as MAX_LINKS
from magnet_market.storage.dag import FileImporter as FileImporter
from magnet_market.storage.dag import cid_of_bytes as cid_of_bytes
from magnet_market.storage.dag import cid_of_path as cid_of_path
from magnet_market.storage.errors import CARFormatError as CARFormatError
from magnet_market.storage.errors import CIDMismatchError as CIDMismatchError
from magnet_market.storage.errors import ContentNotFoundError as ContentNotFoundError
from magnet_market.storage.errors import InvalidCIDError as InvalidCIDError
from magnet_market.storage.errors import MalformedBlockError as MalformedBlockError
from magnet_market.storage.errors import NodeError as NodeError
from magnet_market.storage.errors import NotAFileError as NotAFileError
from magnet_market.storage.errors import StorageError as StorageError
from magnet_market.storage.errors import TruncatedContentError as TruncatedContentError
from magnet_market.storage.errors import UnsupportedCodecError as UnsupportedCodecError
from magnet_market.storage.kubo import KuboStore as KuboStore
from magnet_market.storage.legacy import IpfsHttpClientStore as IpfsHttpClientStore
from magnet_market.storage.local import LocalStore as LocalStore
from magnet_market.storage.store import ContentStore as ContentStore
