"""Who may call: API keys (checked by job_service, cached), HS256/RS256 JWTs, and 401 problems otherwise."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.gateway import StartStack

SECRET = "a-test-jwt-secret-of-at-least-32-characters"


def _rsa_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def _hs256(sub: str, *, exp_in: float = 300, secret: str = SECRET, **claims: object) -> str:
    return jwt.encode({"sub": sub, "exp": int(time.time() + exp_in), **claims}, secret, algorithm="HS256")


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "MISSING_CREDENTIALS"),
        ({"authorization": "Basic dXNlcjpwYXNz"}, "BAD_CREDENTIALS"),
        ({"authorization": "Bearer"}, "BAD_CREDENTIALS"),
        ({"authorization": "Bearer vj_not-a-real-key"}, "INVALID_API_KEY"),
    ],
)
async def test_missing_or_bad_credentials_are_401_problems(
    anonymous: httpx.AsyncClient, headers: dict[str, str], reason: str
) -> None:
    response = await anonymous.get("/v1/videos", headers=headers)

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")
    problem = response.json()
    assert problem["reason"] == reason
    assert problem["status"] == 401
    assert set(problem) >= {"type", "title", "detail", "instance", "request_id"}


async def test_every_user_route_needs_credentials(anonymous: httpx.AsyncClient) -> None:
    job = "00000000-0000-4000-8000-000000000000"
    calls = [
        anonymous.post("/v1/videos", json={"prompt": "x"}),
        anonymous.get(f"/v1/videos/{job}"),
        anonymous.post(f"/v1/videos/{job}/cancel"),
        anonymous.post(f"/v1/videos/{job}/retry"),
        anonymous.delete(f"/v1/videos/{job}"),
        anonymous.get(f"/v1/videos/{job}/events"),
        anonymous.get("/v1/quota"),
        anonymous.post("/v1/admin/users/bob/quota/reset"),
        anonymous.post("/generate", json={"prompt": "x"}),
        anonymous.post("/api/v1/generate", json={"prompt": "x"}),
        anonymous.post("/api/video/animate", json={"prompt": "x"}),
        anonymous.get(f"/api/video/jobs/{job}"),
    ]
    for call in calls:
        assert (await call).status_code == 401


async def test_hs256_jwt_acts_for_its_subject(start_stack: StartStack) -> None:
    stack = await start_stack(jwt_secret=SECRET)
    async with httpx.AsyncClient(base_url=stack.url) as client:
        response = await client.get(
            "/v1/quota", headers={"authorization": f"Bearer {_hs256('user-from-jwt')}"}
        )
        expired = await client.get(
            "/v1/quota", headers={"authorization": f"Bearer {_hs256('u', exp_in=-120)}"}
        )
        forged = await client.get(
            "/v1/quota", headers={"authorization": f"Bearer {_hs256('u', secret='another-secret-' * 3)}"}
        )
        no_exp = jwt.encode({"sub": "u"}, SECRET, algorithm="HS256")
        without_exp = await client.get("/v1/quota", headers={"authorization": f"Bearer {no_exp}"})
        admin_claim = _hs256("mallory", role="admin")
        not_admin = await client.post(
            "/v1/admin/users/bob/quota/reset", headers={"authorization": f"Bearer {admin_claim}"}
        )

    assert response.status_code == 200, response.text
    assert response.json()["user_id"] == "user-from-jwt"
    assert expired.status_code == 401
    assert expired.json()["reason"] == "JWT_EXPIRED"
    assert forged.status_code == 401
    assert forged.json()["reason"] == "BAD_JWT"
    assert without_exp.status_code == 401
    assert not_admin.status_code == 403


SUBJECTS = ["https://idp.example.com/users/42", "tenant//user", "josé", "ålice☃", "a/../b"]


async def test_any_printable_jwt_subject_works_end_to_end(start_stack: StartStack) -> None:
    """Ids an identity provider may issue reach job_service intact (UTF-8 in x-user-id-bin): quota, a
    created video and reading it back all act for exactly that user."""
    stack = await start_stack(jwt_secret=SECRET)
    async with httpx.AsyncClient(base_url=stack.url) as client:
        for subject in SUBJECTS:
            headers = {"authorization": f"Bearer {_hs256(subject)}"}
            quota = await client.get("/v1/quota", headers=headers)
            assert quota.status_code == 200, (subject, quota.text)
            assert quota.json()["user_id"] == subject
            created = await client.post("/v1/videos", json={"prompt": "a boat"}, headers=headers)
            assert created.status_code == 201, (subject, created.text)
            read = await client.get(f"/v1/videos/{created.json()['id']}", headers=headers)
            assert read.status_code == 200, (subject, read.text)
            assert read.headers["x-request-id"]
            listed = await client.get("/v1/videos", headers=headers)
            assert [job["id"] for job in listed.json()["jobs"]] == [created.json()["id"]]


async def test_api_key_users_with_non_ascii_ids_work(start_stack: StartStack) -> None:
    stack = await start_stack()
    async with await stack.client("ålice☃") as client:
        quota = await client.get("/v1/quota")
    assert quota.status_code == 200, quota.text
    assert quota.json()["user_id"] == "ålice☃"


@pytest.mark.parametrize("subject", ["", "bell\x07", "line\nbreak", " padded", "x" * 201])
async def test_a_jwt_subject_that_cannot_be_a_user_id_is_401(start_stack: StartStack, subject: str) -> None:
    stack = await start_stack(jwt_secret=SECRET)
    async with httpx.AsyncClient(base_url=stack.url) as client:
        response = await client.get("/v1/quota", headers={"authorization": f"Bearer {_hs256(subject)}"})
    assert response.status_code == 401
    assert response.json()["reason"] == "BAD_JWT"
    assert "sub" in response.json()["detail"]


JWT_TIMES: dict[str, tuple[Callable[[int], dict[str, object]], str]] = {
    "two days from iat": (
        lambda now: {"iat": now - 3600, "exp": now + 2 * 86400 - 3600},
        "JWT_LIFETIME_TOO_LONG",
    ),
    "two days, no iat": (lambda now: {"exp": now + 2 * 86400}, "JWT_LIFETIME_TOO_LONG"),
    "fractional exp": (lambda now: {"exp": now + 300.5}, "BAD_JWT"),
    "exp as a string": (lambda now: {"exp": str(now + 300)}, "BAD_JWT"),
    "iat as a string": (lambda now: {"exp": now + 300, "iat": "yesterday"}, "BAD_JWT"),
}


@pytest.mark.parametrize("case", JWT_TIMES)
async def test_jwt_lifetime_is_capped_and_its_times_are_integers(start_stack: StartStack, case: str) -> None:
    claims, reason = JWT_TIMES[case]
    now = int(time.time())
    stack = await start_stack(jwt_secret=SECRET)
    token = jwt.encode({"sub": "u", **claims(now)}, SECRET, algorithm="HS256")
    async with httpx.AsyncClient(base_url=stack.url) as client:
        refused = await client.get("/v1/quota", headers={"authorization": f"Bearer {token}"})
        within = await client.get("/v1/quota", headers={"authorization": f"Bearer {_hs256('u', iat=now)}"})
    assert refused.status_code == 401, refused.text
    assert refused.json()["reason"] == reason
    assert within.status_code == 200, within.text


async def test_the_jwt_lifetime_cap_is_a_setting(start_stack: StartStack) -> None:
    stack = await start_stack(jwt_secret=SECRET, jwt_max_lifetime_seconds=200)
    now = int(time.time())
    async with httpx.AsyncClient(base_url=stack.url) as client:
        long = await client.get("/v1/quota", headers={"authorization": f"Bearer {_hs256('u', iat=now)}"})
        short = await client.get(
            "/v1/quota", headers={"authorization": f"Bearer {_hs256('u', exp_in=150, iat=now)}"}
        )
    assert long.json()["reason"] == "JWT_LIFETIME_TOO_LONG"
    assert short.status_code == 200, short.text


async def test_rs256_jwt_is_accepted_only_with_the_configured_key_and_audience(
    start_stack: StartStack,
) -> None:
    private, public = _rsa_pair()
    other_private, _ = _rsa_pair()
    stack = await start_stack(jwt_public_keys=(public,), jwt_audience="authenticated")
    claims = {"sub": "supabase-user", "exp": int(time.time() + 300), "aud": "authenticated"}
    good = jwt.encode(claims, private, algorithm="RS256")
    wrong_key = jwt.encode(claims, other_private, algorithm="RS256")
    wrong_audience = jwt.encode(claims | {"aud": "anon"}, private, algorithm="RS256")
    # An HS256 token "signed" with the public key must not pass (algorithm confusion).
    confused = jwt.encode({"sub": "x", "exp": int(time.time() + 300)}, SECRET, algorithm="HS256")

    async with httpx.AsyncClient(base_url=stack.url) as client:

        async def quota(token: str) -> httpx.Response:
            return await client.get("/v1/quota", headers={"authorization": f"Bearer {token}"})

        results = [await quota(token) for token in (good, wrong_key, wrong_audience, confused)]

    assert results[0].status_code == 200, results[0].text
    assert results[0].json()["user_id"] == "supabase-user"
    assert [r.status_code for r in results[1:]] == [401, 401, 401]


async def test_api_keys_are_cached_briefly(start_stack: StartStack) -> None:
    stack = await start_stack(api_key_cache_seconds=30)
    key = await stack.key("erin")
    async with httpx.AsyncClient(base_url=stack.url, headers={"authorization": f"Bearer {key}"}) as client:
        assert (await client.get("/v1/quota")).status_code == 200
    # With its job_service stub taken away, only the cache can still vouch for the key.
    authenticator = stack.gateway.app.state.gateway.authenticator
    authenticator._jobs = None
    principal = await authenticator.authenticate(f"Bearer {key}")
    assert principal.user_id == "erin"
