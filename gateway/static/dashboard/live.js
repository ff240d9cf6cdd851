// One job followed live over Server-Sent Events (GET /v1/videos/{id}/events).
//
// Read with fetch rather than EventSource: EventSource cannot send the Authorization header. After a drop
// the stream is resumed with Last-Event-ID (the last event's sequence), so no transition is missed or
// repeated; reconnects back off exponentially with jitter and stop after MAX_FAILURES in a row, after which
// the page's periodic refresh keeps the row right (and starts a new stream later).

import { ApiError, StaleSession } from "./api.js";
import { TERMINAL } from "./words.js";

const MAX_FAILURES = 8;
const MAX_DELAY_MS = 30000;
// The gateway sends a keep-alive comment every 15 s by default: silence for this long is a dead connection.
const SILENCE_MS = 45000;

export class JobStream {
  // onJob(job, event) for every event; onStatus("live" | "reconnecting" | "stopped"); onEnd(reason).
  constructor(session, jobId, { onJob, onStatus, onEnd }) {
    this.session = session;
    this.jobId = jobId;
    this.onJob = onJob;
    this.onStatus = onStatus;
    this.onEnd = onEnd;
    this.lastId = "";
    this.retryMs = 1000;
    this.stopped = false;
    this.controller = null;
    this.wake = null;
  }

  start() {
    this.run().catch((error) => {
      if (!(error instanceof StaleSession)) this.finish("failed");
    });
    return this;
  }

  stop() {
    this.stopped = true;
    if (this.controller) this.controller.abort();
    if (this.wake) this.wake();
  }

  finish(reason) {
    if (this.ended) return;
    this.ended = true;
    this.onEnd(reason);
  }

  async run() {
    let failures = 0;
    while (!this.stopped) {
      let outcome;
      try {
        outcome = await this.follow(() => {
          failures = 0;
          this.onStatus("live");
        });
      } catch (error) {
        if (this.stopped || error instanceof StaleSession) return;
        if (error instanceof ApiError && error.kind === "problem" && error.status !== 503 && error.status !== 429) {
          this.finish(error.status === 404 ? "gone" : error.status === 401 ? "unauthorized" : "failed");
          return;
        }
        outcome = "dropped";
      }
      if (outcome === "terminal") {
        this.finish("terminal");
        return;
      }
      if (this.stopped) return;
      failures += 1;
      if (failures > MAX_FAILURES) {
        this.onStatus("stopped");
        this.finish("gave-up");
        return;
      }
      this.onStatus("reconnecting");
      await this.sleep(backoff(failures, this.retryMs));
    }
  }

  sleep(ms) {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  // Reads one connection until it ends: "terminal" after a terminal state, else "dropped".
  async follow(onOpen) {
    this.controller = new AbortController();
    const headers = { accept: "text/event-stream" };
    if (this.lastId) headers["last-event-id"] = this.lastId;
    const response = await this.session.fetch(`/v1/videos/${encodeURIComponent(this.jobId)}/events`, {
      headers,
      signal: this.controller.signal,
    });
    onOpen();
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    const parser = new EventParser();
    let watchdog = setTimeout(() => this.controller.abort(), SILENCE_MS);
    try {
      for (;;) {
        let chunk;
        try {
          chunk = await reader.read();
        } catch {
          return "dropped";
        }
        if (chunk.done) return "dropped";
        clearTimeout(watchdog);
        watchdog = setTimeout(() => this.controller.abort(), SILENCE_MS);
        for (const event of parser.push(decoder.decode(chunk.value, { stream: true }))) {
          if (event.retry) this.retryMs = event.retry;
          if (event.id) this.lastId = event.id;
          if (event.type === "error" || !event.data) continue;
          const data = JSON.parse(event.data);
          if (data.job) this.onJob(data.job, data);
          if (TERMINAL.has(data.state)) return "terminal";
        }
      }
    } finally {
      clearTimeout(watchdog);
      reader.cancel().catch(() => {});
    }
  }
}

function backoff(failures, baseMs) {
  const ceiling = Math.min(MAX_DELAY_MS, baseMs * 2 ** (failures - 1));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

// The text/event-stream format (HTML Living Standard, "Parsing an event stream"), for our needs.
export class EventParser {
  constructor() {
    this.buffer = "";
    this.reset();
  }

  reset() {
    this.type = "";
    this.data = [];
    this.id = "";
    this.retry = 0;
  }

  push(text) {
    this.buffer += text;
    const events = [];
    const lines = this.buffer.split(/\r\n|\r|\n/);
    this.buffer = lines.pop();
    for (const line of lines) {
      if (line === "") {
        if (this.data.length || this.id || this.retry) {
          events.push({ type: this.type || "message", data: this.data.join("\n"), id: this.id, retry: this.retry });
        }
        this.reset();
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") this.type = value;
      else if (field === "data") this.data.push(value);
      else if (field === "id") this.id = value;
      else if (field === "retry" && /^\d+$/.test(value)) this.retry = Number(value);
    }
    return events;
  }
}
