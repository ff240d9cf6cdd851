// Calls to the public API from the page: one place that turns every kind of failure into an ApiError.
//
// The session's key travels only in the Authorization header. Every answer is checked against the session
// it was asked for: once the user switched keys, a late answer for the old key is dropped (StaleSession),
// so one user's data can never appear under another's name.

export class ApiError extends Error {
  // kind: "problem" (the API answered with an RFC 9457 problem), "network" (no answer at all),
  // "offline", "unexpected" (an answer that is not our JSON, e.g. a proxy's HTML page).
  constructor(kind, status, problem = {}) {
    super(problem.detail || `${kind} ${status}`);
    this.kind = kind;
    this.status = status;
    this.problem = problem;
    this.reason = problem.reason || "";
  }
}

export class StaleSession extends Error {}

export class Session {
  constructor(key) {
    this.key = key;
    this.closed = false;
    this.userId = "";
    this.skewMs = 0;
  }

  // The server's clock, from the Date header of its last answer: expiry times and elapsed times are the
  // server's, and this machine's clock may be off by minutes.
  serverNow() {
    return Date.now() + this.skewMs;
  }

  close() {
    this.closed = true;
  }

  // fetch() for this session; resolves to parsed JSON (or null for an empty body).
  async request(path, { method = "GET", body, headers = {}, signal } = {}) {
    const response = await this.fetch(path, { method, body, headers, signal });
    return readJson(response);
  }

  // The raw Response of a successful call (for streams); failures throw ApiError like request().
  async fetch(path, { method = "GET", body, headers = {}, signal } = {}) {
    if (this.closed) throw new StaleSession();
    const options = {
      method,
      signal,
      cache: "no-store",
      headers: { accept: "application/json", ...headers, authorization: `Bearer ${this.key}` },
    };
    if (body !== undefined) {
      options.body = JSON.stringify(body);
      options.headers["content-type"] = "application/json";
    }
    let response;
    try {
      response = await fetch(path, options);
    } catch (error) {
      if (this.closed) throw new StaleSession();
      if (error.name === "AbortError") throw error;
      throw new ApiError(navigator.onLine === false ? "offline" : "network", 0);
    }
    if (this.closed) throw new StaleSession();
    const date = Date.parse(response.headers.get("date") || "");
    if (date) this.skewMs = date - Date.now();
    if (!response.ok) throw await problemOf(response);
    return response;
  }
}

async function readJson(response) {
  if (response.status === 204) return null;
  const text = await response.text();
  if (!text) return null;
  if (!(response.headers.get("content-type") || "").includes("json")) {
    throw new ApiError("unexpected", response.status);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError("unexpected", response.status);
  }
}

async function problemOf(response) {
  const type = response.headers.get("content-type") || "";
  let problem = null;
  if (type.includes("json")) {
    try {
      problem = await response.json();
    } catch {
      problem = null;
    }
  }
  if (!problem || typeof problem !== "object") return new ApiError("unexpected", response.status);
  const retry = Number(response.headers.get("retry-after"));
  if (Number.isFinite(retry) && retry > 0 && problem.retry_after_seconds === undefined) {
    problem.retry_after_seconds = retry;
  }
  return new ApiError("problem", response.status, problem);
}

// A UUID v4 from crypto.getRandomValues: crypto.randomUUID exists only on https or localhost pages.
export function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
