"""The orchestrator's Policy as a deployment gets it (every default from the settings), with the numbers a
test changes (validated as settings are)."""

from __future__ import annotations

from typing import Any

from job_service import server
from job_service.policy import Policy
from job_service.settings import JobServiceSettings


def deployed_policy(**settings: Any) -> Policy:
    return server.policy(JobServiceSettings(bucket="-", **settings))
