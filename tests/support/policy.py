"""The orchestrator's Policy as a deployment gets it (every default from the settings), with the numbers a
test changes."""

from __future__ import annotations

import dataclasses

from job_service import server
from job_service.policy import Policy
from job_service.settings import JobServiceSettings


def deployed_policy(**overrides: float | int | str) -> Policy:
    return dataclasses.replace(server.policy(JobServiceSettings(bucket="-")), **overrides)  # type: ignore[arg-type]
