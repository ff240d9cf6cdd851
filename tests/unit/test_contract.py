"""The contract's constants agree with the generated protos and with the HTTP API's schema."""

from __future__ import annotations

from gateway.main import create_app
from gateway.settings import GatewaySettings
from videojobs.contract import TERMINAL_GENERATION_STATES, GenerationState, JobState
from videojobs.v1 import job_service_pb2, provider_service_pb2


def test_job_states_are_the_protos() -> None:
    names = [name for name in job_service_pb2.JobState.keys() if name != "JOB_STATE_UNSPECIFIED"]  # noqa: SIM118
    assert list(JobState) == names


def test_generation_states_are_the_protos() -> None:
    names = [
        name
        for name in provider_service_pb2.GenerationStatus.State.keys()  # noqa: SIM118
        if name != "STATE_UNSPECIFIED"
    ]
    assert list(GenerationState) == names
    assert {GenerationState.QUEUED, GenerationState.RUNNING}.isdisjoint(TERMINAL_GENERATION_STATES)


def test_the_http_state_filter_offers_every_job_state() -> None:
    schema = create_app(GatewaySettings()).openapi()
    parameters = schema["paths"]["/v1/videos"]["get"]["parameters"]
    state = next(p for p in parameters if p["name"] == "state")
    items = state["schema"]["anyOf"][0]["items"]
    name = items["$ref"].rsplit("/", 1)[-1]
    assert schema["components"]["schemas"][name]["enum"] == list(JobState)
