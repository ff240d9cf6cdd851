"""API keys: random, shown once, stored only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Awaitable
from typing import Protocol

from videojobs.context import ADMIN_ROLE, USER_ROLE
from videojobs.errors import InvalidArgument
from videojobs.identity import user_id_problem

KEY_PREFIX = "vj_"


def mint() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def fingerprint(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def display_prefix(api_key: str) -> str:
    return api_key[:10]


class _KeyStore(Protocol):
    def add_api_key(self, key_hash: str, prefix: str, user_id: str, role: str) -> Awaitable[uuid.UUID]: ...


async def mint_for(store: _KeyStore, user_id: str, *, admin: bool = False) -> str:
    """Mint a key for a user and store its hash; the key itself is returned once and never kept."""
    return (await mint_with_id(store, user_id, admin=admin))[1]


async def mint_with_id(store: _KeyStore, user_id: str, *, admin: bool = False) -> tuple[uuid.UUID, str]:
    """`mint_for`, also returning the stored key's id (to list or revoke it by)."""
    problem = user_id_problem(user_id)
    if problem:
        raise InvalidArgument.field("user_id", problem)
    key = mint()
    key_id = await store.add_api_key(
        fingerprint(key), display_prefix(key), user_id, ADMIN_ROLE if admin else USER_ROLE
    )
    return key_id, key
