"""Cache keys: a short stable hash of the config parts a stage depends on."""
from __future__ import annotations

import hashlib
import json
from typing import Any

from ..config import to_dict


def config_hash(*parts: Any, length: int = 10) -> str:
    """Hex digest of the plain-data form of ``parts`` (dataclasses, dicts, scalars), order-sensitive."""
    payload = json.dumps([to_dict(p) for p in parts], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:length]
