"""Who is calling: an API key (checked by job_service's AuthenticateApiKey, cached briefly) or a JWT.

JWTs come from apps that already have a login (e.g. Supabase): HS256 with the configured secret, or RS256
with one of the configured public keys; `sub` is the user id and `exp` is required. JWT users always have
the plain user role; admin routes need an admin API key.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

import grpc
import jwt
from cachetools import TTLCache

from gateway.problems import INTERNAL_TOKEN_REFUSED, Problem, from_rpc_error
from gateway.settings import GatewaySettings
from videojobs import identity
from videojobs.context import USER_ROLE, Caller
from videojobs.v1 import job_service_pb2, job_service_pb2_grpc

# An unknown key is remembered for a moment so a client hammering with a bad key does not reach job_service.
_REJECTED_TTL_SECONDS = 5.0
_MAX_TOKEN_CHARS = 8192


class Principal(Caller):
    """The authenticated user; job_service sees the same user as its Caller."""

    def metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        """The identity job_service acts for; set only here, never taken from the client. The user id
        travels as UTF-8 in a binary header, so any id an identity provider issues arrives intact."""
        return (identity.metadata(self.user_id), ("x-user-role", self.role))


class LookupRefused(Exception):
    """An API key would need a backend lookup that the caller's address may not have now."""


def unauthenticated(detail: str, reason: str = "UNAUTHENTICATED") -> Problem:
    return Problem(401, detail, reason=reason)


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise unauthenticated("send Authorization: Bearer <API key or JWT>", "MISSING_CREDENTIALS")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > _MAX_TOKEN_CHARS:
        raise unauthenticated("the Authorization header must be 'Bearer <API key or JWT>'", "BAD_CREDENTIALS")
    return token


def _is_integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def looks_like_jwt(token: str) -> bool:
    return token.startswith("eyJ") and token.count(".") == 2


class Authenticator:
    def __init__(
        self,
        settings: GatewaySettings,
        jobs: job_service_pb2_grpc.JobServiceAsyncStub,
        call_options: Callable[[], dict[str, Any]],
    ) -> None:
        self._settings = settings
        self._jobs = jobs
        self._call_options = call_options
        # Bounded: a flood of made-up keys must not grow the gateway's memory.
        self._accepted: TTLCache[str, Principal] = TTLCache(
            settings.api_key_cache_size, ttl=settings.api_key_cache_seconds
        )
        self._rejected: TTLCache[str, bool] = TTLCache(settings.api_key_cache_size, ttl=_REJECTED_TTL_SECONDS)
        self._secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
        self._public_keys = settings.jwt_public_keys

    async def authenticate(self, authorization: str | None, *, lookups: bool = True) -> Principal:
        """The caller; with `lookups` False, an API key job_service would have to check raises
        LookupRefused instead (JWTs and cached keys are checked here, at no backend cost)."""
        token = bearer_token(authorization)
        if self._settings.jwt_enabled and looks_like_jwt(token):
            return self._from_jwt(token)
        return await self._from_api_key(token, lookups)

    async def _from_api_key(self, api_key: str, lookups: bool) -> Principal:
        fingerprint = hashlib.sha256(api_key.encode()).hexdigest()
        cached = self._accepted.get(fingerprint)
        if cached is not None:
            return cached
        if self._rejected.get(fingerprint):
            raise unauthenticated("unknown or revoked API key", "INVALID_API_KEY")
        if not lookups:
            raise LookupRefused
        try:
            reply = await self._jobs.AuthenticateApiKey(
                job_service_pb2.AuthenticateApiKeyRequest(api_key=api_key), **self._call_options()
            )
        except grpc.aio.AioRpcError as error:
            problem = from_rpc_error(error)
            if problem.reason == INTERNAL_TOKEN_REFUSED:
                raise problem from None  # our token is wrong, not the client's key: never cached or counted
            if error.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.INVALID_ARGUMENT):
                self._rejected[fingerprint] = True
                raise unauthenticated("unknown or revoked API key", "INVALID_API_KEY") from None
            raise problem from None
        principal = Principal(user_id=reply.user_id, role=reply.role or USER_ROLE)
        self._accepted[fingerprint] = principal
        return principal

    def _from_jwt(self, token: str) -> Principal:
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
            if algorithm == "HS256" and self._secret is not None:
                claims = self._decode(token, self._secret, "HS256")
            elif algorithm == "RS256" and self._public_keys:
                claims = self._decode_rs256(token)
            else:
                raise unauthenticated(f"JWT algorithm {algorithm!r} is not accepted here", "BAD_JWT")
        except jwt.ExpiredSignatureError:
            raise unauthenticated("the JWT has expired", "JWT_EXPIRED") from None
        except jwt.InvalidTokenError as error:
            raise unauthenticated(f"invalid JWT: {error}", "BAD_JWT") from None
        self._check_lifetime(claims)
        subject = claims.get("sub")
        if not isinstance(subject, str):
            raise unauthenticated("the JWT's sub claim must name the user", "BAD_JWT")
        problem = identity.user_id_problem(subject)
        if problem:
            raise unauthenticated(f"the JWT's sub claim {problem}", "BAD_JWT")
        return Principal(user_id=subject, role=USER_ROLE)

    def _check_lifetime(self, claims: dict[str, Any]) -> None:
        """`exp` (and `iat` when present) must be integers, and a token may live at most
        `jwt_max_lifetime_seconds`: a stolen long-lived token cannot be revoked here."""
        expires, issued = claims.get("exp"), claims.get("iat", time.time())
        if not _is_integer(expires) or ("iat" in claims and not _is_integer(issued)):
            raise unauthenticated("the JWT's exp and iat claims must be integers (seconds)", "BAD_JWT")
        limit = self._settings.jwt_max_lifetime_seconds
        if expires - issued > limit:
            raise unauthenticated(
                f"the JWT lives longer than this service accepts ({limit:g} s from iat to exp)",
                "JWT_LIFETIME_TOO_LONG",
            )

    def _decode(self, token: str, key: str, algorithm: str) -> dict[str, Any]:
        settings = self._settings
        options: dict[str, Any] = {"require": ["exp", "sub"], "verify_aud": settings.jwt_audience is not None}
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            leeway=settings.jwt_leeway_seconds,
            options=options,  # type: ignore[arg-type]
        )
        return claims

    def _decode_rs256(self, token: str) -> dict[str, Any]:
        last: jwt.InvalidTokenError = jwt.InvalidSignatureError("no configured public key matched")
        for key in self._public_keys:
            try:
                return self._decode(token, key, "RS256")
            except jwt.InvalidSignatureError as error:
                last = error
        raise last
