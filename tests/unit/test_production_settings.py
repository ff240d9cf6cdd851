"""Production refuses shared secrets that are guessable: the development defaults and short ones."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.settings import GatewaySettings
from videojobs.settings import DEV_INTERNAL_TOKEN, CommonSettings

STRONG = "t" * 32


@pytest.mark.parametrize("token", ["", DEV_INTERNAL_TOKEN, "short-but-not-the-default", "t" * 31])
def test_production_refuses_a_weak_internal_token(token: str) -> None:
    with pytest.raises(ValidationError, match="at least 32 characters"):
        CommonSettings(environment="production", internal_token=token)


def test_production_takes_an_internal_token_of_32_characters() -> None:
    assert CommonSettings(environment="production", internal_token=STRONG).internal_token.get_secret_value()
    assert CommonSettings(environment="development", internal_token="short")


@pytest.mark.parametrize("secret", ["secret", "j" * 31])
def test_production_refuses_a_weak_jwt_secret(secret: str) -> None:
    with pytest.raises(ValidationError, match="at least 32 characters"):
        GatewaySettings(environment="production", internal_token=STRONG, jwt_secret=secret)
