"""What a user may read of an error: a stable reason and a human message, never our internals.

Errors keep their full text where operators look (logs, the database, `videojobs admin`); what the API
shows a user goes through `public_message`. Errors on our side (a peer service down, a provider we have
not configured, a crash) read as a fixed sentence per reason: their text names addresses
(`ipv4:127.0.0.1:34099`) and settings (`VIDEOJOBS_VEO_PROJECT`) that are no business of the user's and
help an attacker map the deployment. Any other message (a provider's own words about the request) is
shown with such details masked, as a net for what slips through.
"""

from __future__ import annotations

import re

# Our side of the line: the user can do nothing about these but wait or tell us.
_OURS = {
    "UNAVAILABLE": "a service this video needs was briefly unavailable",
    "PEER_UNAVAILABLE": "a service this video needs was briefly unavailable",
    "INTERNAL": "an internal error occurred",
    "UNKNOWN": "an internal error occurred",
    "ABORTED": "an internal error occurred",
    "PROVIDER_NOT_CONFIGURED": "this provider is not available on this service",
    "INVALID_INTERNAL_TOKEN": "an internal error occurred",
}
MASK = "[internal]"
_INTERNALS = re.compile(
    r"""
      \b(?:ipv4|ipv6|unix|unix-abstract|dns):[^\s,;)]*[^\s,;):]  # gRPC peer addresses
    | \b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b                 # IPv4, with a port
    | \[[0-9a-fA-F:]+\](?::\d+)?                           # [IPv6]:port
    | \bVIDEOJOBS_[A-Z0-9_]+\b                              # our settings
    | \b(?:FAL_KEY|GEMINI_API_KEY|RUNWAYML_API_SECRET|GOOGLE_CLOUD_PROJECT|GOOGLE_APPLICATION_CREDENTIALS
         |STORAGE_EMULATOR_HOST|DATABASE_URL)\b             # and the ones read under their own names
    """,
    re.VERBOSE,
)


def public_message(reason: str, message: str) -> str:
    """The message a user sees for an error with this reason (a JobError code or an ErrorInfo reason)."""
    fixed = _OURS.get(reason)
    if fixed is not None:
        return fixed
    return mask(message)


def mask(text: str) -> str:
    """`text` with addresses and setting names replaced by [internal]."""
    return _INTERNALS.sub(MASK, text)
