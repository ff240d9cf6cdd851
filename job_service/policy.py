"""The orchestrator's numbers: where videos go, how soon to poll, how long to back off, and the bounds.
Built by server.policy() from JobServiceSettings, which holds every default."""

from __future__ import annotations

from dataclasses import dataclass

from videojobs.backoff import full_jitter


@dataclass(frozen=True)
class Policy:
    bucket: str
    poll_initial_seconds: float
    poll_max_seconds: float
    retry_base_seconds: float
    retry_max_seconds: float
    step_max_attempts: int
    submit_unknown_wait_seconds: float
    max_unknown_submits: int
    job_deadline_seconds: float
    provider_retry_attempts: int
    peer_wait_max_seconds: float
    # How long every replica holds back submissions to a provider that answered 429 without saying how long,
    # and the least pace of its submissions afterwards (one per this long, for a limits window).
    throttle_wait_seconds: float
    # 429s for longer than this count like any transient failure (the provider is as good as down).
    max_throttled_seconds: float

    def poll_delay(self, polls_done: int) -> float:
        """Soon at first (short jobs finish fast), then 1.5x per poll up to the maximum."""
        return min(self.poll_initial_seconds * 1.5**polls_done, self.poll_max_seconds)

    def backoff(self, failures: int, retry_after: float | None) -> float:
        """Full-jitter exponential backoff, never sooner than the peer asked for."""
        wait = full_jitter(failures, base=self.retry_base_seconds, cap=self.retry_max_seconds)
        return max(wait, retry_after or 0.0)

    def peer_wait(self, waits: int) -> float:
        """How long a step waits for one of our own services, after `waits` tries found it out of reach:
        full jitter from `retry_base_seconds`, capped at `peer_wait_max_seconds` (the exponent too: an
        outage may last as long as the job deadline)."""
        return full_jitter(min(waits, 32), base=self.retry_base_seconds, cap=self.peer_wait_max_seconds)
