"""User-visible error text: our own failures read as a fixed sentence per reason; anything else is shown
with addresses and setting names masked."""

from __future__ import annotations

import pytest

from videojobs.public_errors import MASK, mask, public_message

LEAKY = [
    "UNAVAILABLE: failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:34099: Failed",
    "veo is not configured: VIDEOJOBS_VEO_PROJECT is not set (VIDEOJOBS_VEO_MODE=vertex)",
    "fal is not configured: FAL_KEY is not set",
    "connect to ipv6:[::1]:50053 failed",
    "peer 10.0.3.7:50052 reset the stream",
    "GEMINI_API_KEY is not set",
]


@pytest.mark.parametrize("text", LEAKY)
def test_addresses_and_setting_names_are_masked(text: str) -> None:
    shown = mask(text)
    assert MASK in shown
    for secret in ("127.0.0.1", "::1", "10.0.3.7", "VIDEOJOBS_", "FAL_KEY", "GEMINI_API_KEY", "34099"):
        assert secret not in shown


def test_our_own_failures_read_as_one_sentence_per_reason() -> None:
    assert public_message("UNAVAILABLE", LEAKY[0]) == "a service this video needs was briefly unavailable"
    assert (
        public_message("PROVIDER_NOT_CONFIGURED", LEAKY[1])
        == "this provider is not available on this service"
    )
    assert public_message("INTERNAL", "Traceback ...") == "an internal error occurred"


def test_a_providers_own_words_are_kept() -> None:
    message = (
        "fal refused the prompt: contains a public figure (FAL_CONTENT_POLICY_VIOLATION), retry in 1.5 s"
    )
    assert public_message("CONTENT_VIOLATION", message) == message
