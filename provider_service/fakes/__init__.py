"""Fake provider servers that speak each provider's real HTTP protocol, for tests and local runs.

Each starts on port 0 in a background thread, is scripted per test, and counts what it saw
(see base.py for the scripting API).
"""

from provider_service.fakes.base import FakeJob, FakeProvider, Fault, Script, tiny_video
from provider_service.fakes.fal import FalFake
from provider_service.fakes.runway import RunwayFake
from provider_service.fakes.veo import VeoFake

__all__ = ["FakeJob", "FakeProvider", "FalFake", "Fault", "RunwayFake", "Script", "VeoFake", "tiny_video"]
