"""What every fake provider shares: a script of outcomes and faults, counters, and fault injection.

    fake = FalFake(key="k").start()           # port 0, background thread; fake.url
    fake.script.polls_to_finish = 3            # answered status polls before the final state
    fake.script.outcome = "content_violation"  # for jobs submitted from now on
    fake.script.outcomes = ["failure"]         # the next jobs' outcomes, in order, before `outcome`
    fake.fail_next("status", Fault("429", retry_after=0.05), times=2)
    fake.fail_always("status", Fault("503"))   # a provider that stays down
    fake.fail_randomly(0.3, endpoints=("status",), kinds=("500", "429", "hang"), seed=7)
    fake.submissions, fake.polls[job_id], fake.calls["status"], fake.jobs
    fake.script.submit_rate = (2, 1.0)         # 2 submissions a second at most, 429 beyond (fake.throttled)
    fake.script.durations = (2.0, 4.0)         # jobs finish 2-4 s after submission, whatever the polls
    fake.running, fake.max_running             # jobs accepted and not finished, now and at most so far
    fake.stop()

Fault kinds: an HTTP status ("429", "500", "502", "503", "504") answered in the provider's error shape;
"hang" (answer nothing for `hang_seconds`, then drop); "drop" (close the connection before doing anything);
"accept_then_drop" (do the work, e.g. create the job, then close without answering); "malformed" (do the
work, answer 200 with a body that is not JSON); "unknown_status" (a status answer with a state the provider
never documented); "still_image" (a download answered with a JPEG labelled video/mp4).
"""

from __future__ import annotations

import abc
import io
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Self

from PIL import Image

from provider_service.local_http import DROP, Drop, LocalHttpServer, Request, Response
from provider_service.sim.render import render_mp4

Outcome = Literal["success", "failure", "content_violation"]
Endpoint = Literal["submit", "status", "status_stream", "result", "cancel", "download"]
Route = tuple[Endpoint, Callable[[Request], Response]]


@dataclass(frozen=True)
class Fault:
    kind: str
    retry_after: float | None = None


@dataclass
class FakeJob:
    id: str
    input: dict[str, Any]
    outcome: Outcome
    polls_to_finish: int
    polls_answered: int = 0
    cancelled: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    # Set when the script gives durations: the job finishes this long after it was created (time.time()),
    # however often it is polled.
    seconds: float | None = None
    created: float = field(default_factory=time.time)

    @property
    def finished(self) -> bool:
        if self.cancelled:
            return True
        if self.seconds is not None:
            return time.time() >= self.finish_time
        return self.polls_answered > self.polls_to_finish

    @property
    def finish_time(self) -> float:
        """When a job with a duration finished (time.time())."""
        return self.created + (self.seconds or 0.0)


@dataclass
class Script:
    polls_to_finish: int = 2
    outcome: Outcome = "success"
    outcomes: list[Outcome] = field(default_factory=list)
    failure_code: str = ""  # provider-specific failure code for outcome "failure"; empty: the fake's default
    hang_seconds: float = 5.0
    queued: dict[str, list[Fault]] = field(default_factory=dict)
    always: dict[str, Fault] = field(default_factory=dict)
    random_rate: float = 0.0
    random_endpoints: tuple[str, ...] = ("status",)
    random_kinds: tuple[str, ...] = ("500", "429", "hang")
    random_retry_after: float | None = None
    rng: random.Random = field(default_factory=random.Random)
    # (submissions, seconds): accept at most that many submissions in any such window; 429 with Retry-After.
    submit_rate: tuple[int, float] | None = None
    # (low, high): each job runs for a random time in this range (seconds) instead of `polls_to_finish` polls.
    durations: tuple[float, float] | None = None

    def take(self, endpoint: str) -> Fault | None:
        if self.queued.get(endpoint):
            return self.queued[endpoint].pop(0)
        if endpoint in self.always:
            return self.always[endpoint]
        if endpoint in self.random_endpoints and self.random_rate and self.rng.random() < self.random_rate:
            kind = self.rng.choice(self.random_kinds)
            return Fault(kind, retry_after=self.random_retry_after if kind == "429" else None)
        return None


_VIDEO: bytes | None = None
_VIDEO_LOCK = threading.Lock()


def tiny_video() -> bytes:
    """A real 1 s 160x90 H.264 MP4, rendered once per process."""
    global _VIDEO
    with _VIDEO_LOCK:
        if _VIDEO is None:
            _VIDEO = render_mp4("fake provider output", seconds=1.0, width=160, height=90, fps=8)
        return _VIDEO


def still_image() -> bytes:
    """A JPEG: what a "video" that is really one picture looks like."""
    out = io.BytesIO()
    Image.new("RGB", (160, 90), (40, 90, 160)).save(out, format="JPEG")
    return out.getvalue()


class FakeProvider(abc.ABC):
    """A provider's HTTP protocol on loopback. Subclasses route requests and shape answers."""

    name = "fake"

    def __init__(self) -> None:
        self.script = Script()
        self.lock = threading.RLock()
        self.jobs: dict[str, FakeJob] = {}
        self.calls: Counter[str] = Counter()
        self.polls: Counter[str] = Counter()
        self.cancels: Counter[str] = Counter()
        self.refused: list[Any] = []  # request bodies refused as invalid (the real API would refuse them too)
        self.submit_times: list[float] = []  # time.monotonic() of each accepted submission
        self.throttled = 0  # submissions answered 429 by the rate limit
        self.max_running = 0
        self.server = LocalHttpServer(self._handle)

    # -- lifecycle ---------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> Self:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- scripting ---------------------------------------------------------------------------------------
    def fail_next(self, endpoint: Endpoint, fault: Fault, times: int = 1) -> None:
        with self.lock:
            self.script.queued.setdefault(endpoint, []).extend([fault] * times)

    def fail_always(self, endpoint: Endpoint, fault: Fault) -> None:
        with self.lock:
            self.script.always[endpoint] = fault

    def recover(self) -> None:
        with self.lock:
            self.script.queued.clear()
            self.script.always.clear()
            self.script.random_rate = 0.0

    def fail_randomly(
        self,
        rate: float,
        *,
        endpoints: tuple[Endpoint, ...] = ("status",),
        kinds: tuple[str, ...] = ("500", "429", "hang"),
        retry_after: float | None = None,
        seed: int | None = None,
    ) -> None:
        with self.lock:
            self.script.random_rate = rate
            self.script.random_endpoints = endpoints
            self.script.random_kinds = kinds
            self.script.random_retry_after = retry_after
            self.script.rng = random.Random(seed)

    # -- counters ----------------------------------------------------------------------------------------
    @property
    def submissions(self) -> int:
        return len(self.jobs)

    @property
    def running(self) -> int:
        """Jobs accepted and not finished (no final state answered yet, not cancelled)."""
        with self.lock:
            return sum(not job.finished for job in self.jobs.values())

    def new_job(self, job_id: str, body: dict[str, Any]) -> FakeJob:
        with self.lock:
            outcome = self.script.outcomes.pop(0) if self.script.outcomes else self.script.outcome
            job = FakeJob(job_id, body, outcome, self.script.polls_to_finish)
            if self.script.durations is not None:
                job.seconds = self.script.rng.uniform(*self.script.durations)
            self.jobs[job_id] = job
            self.submit_times.append(time.monotonic())
            self.max_running = max(self.max_running, self.running)
            return job

    def _over_rate(self) -> float | None:
        """Seconds until the rate limit admits a submission, or None if it admits one now."""
        if self.script.submit_rate is None:
            return None
        count, window = self.script.submit_rate
        recent = [t for t in self.submit_times if t > time.monotonic() - window]
        if len(recent) < count:
            return None
        return recent[-count] + window - time.monotonic()

    def answer_poll(self, job: FakeJob) -> None:
        """Count one answered status poll; the job reaches its outcome after `polls_to_finish` of them."""
        with self.lock:
            job.polls_answered += 1
            self.polls[job.id] += 1

    # -- subclass hooks ----------------------------------------------------------------------------------
    @abc.abstractmethod
    def route(self, request: Request) -> Route | None:
        """Which endpoint a request is for, and its handler; None for an unknown path (404)."""

    def error_response(self, status: int, retry_after: float | None) -> Response:
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        return Response.json({"error": f"HTTP {status} from the fake"}, status, headers)

    def unknown_status_response(self, request: Request) -> Response:
        return Response.json({"status": "SOMETHING_NEW"})

    # -- dispatch ----------------------------------------------------------------------------------------
    def _handle(self, request: Request) -> Response | Drop:
        routed = self.route(request)
        if routed is None:
            return Response.json({"error": f"no route for {request.method} {request.path}"}, 404)
        endpoint, handler = routed
        with self.lock:
            self.calls[endpoint] += 1
            fault = self.script.take(endpoint)
            hang = self.script.hang_seconds
            wait = self._over_rate() if endpoint == "submit" and fault is None else None
            if wait is not None:
                self.throttled += 1
        if wait is not None:
            return self.error_response(429, max(wait, 0.001))
        if fault is None:
            return handler(request)
        if fault.kind.isdigit():
            return self.error_response(int(fault.kind), fault.retry_after)
        if fault.kind == "hang":
            self.server.stopping.wait(hang)
            return DROP
        if fault.kind == "drop":
            return DROP
        if fault.kind == "accept_then_drop":
            handler(request)
            return DROP
        if fault.kind == "malformed":
            if endpoint == "submit":  # the job exists; only the answer is broken
                handler(request)
            return Response(200, b'{"status": "IN_PROG', {"Content-Type": "application/json"})
        if fault.kind == "unknown_status":
            return self.unknown_status_response(request)
        if fault.kind == "still_image":
            return Response(200, still_image(), {"Content-Type": "video/mp4"})
        raise ValueError(f"unknown fault kind {fault.kind!r}")
