// What the page says to people. The API's `detail` texts are for developers (they may name settings,
// providers' own messages, internal ids); here every problem `reason` and job error code becomes a sentence.

export const STATES = {
  PENDING: "Queued",
  SUBMITTING: "Starting",
  PROCESSING: "Generating",
  FINALIZING: "Saving",
  COMPLETED: "Completed",
  FAILED: "Failed",
  CONTENT_VIOLATION: "Content violation",
  CANCELLED: "Cancelled",
};
export const TERMINAL = new Set(["COMPLETED", "FAILED", "CONTENT_VIOLATION", "CANCELLED"]);

export function clockTime(iso) {
  return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function plural(count, word) {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

function seconds(count) {
  if (count >= 120) return `${Math.ceil(count / 60)} minutes`;
  return plural(Math.max(1, Math.round(count)), "second");
}

// A problem answered by the API (or no answer at all), as one sentence. `quota` is the last /v1/quota seen.
export function explain(error, { quota = null, action = "" } = {}) {
  if (error.kind === "offline") return "You are offline. Try again when the connection is back.";
  const again = action === "create" ? " Nothing is lost: press Create video again and it will not be made twice." : " Try again in a moment.";
  if (error.kind === "network") return `The video service cannot be reached right now.${again}`;
  if (error.kind === "unexpected") {
    return `The server gave an answer this page does not understand (HTTP ${error.status}).${again}`;
  }
  const problem = error.problem;
  switch (error.reason) {
    case "DAILY_QUOTA_EXCEEDED": {
      const limit = quota ? quota.daily_limit : null;
      const reset = quota && quota.resets_at ? quota.resets_at
        : new Date(Date.now() + (problem.retry_after_seconds || 0) * 1000).toISOString();
      const used = limit === null ? "all of today's videos" : `today's ${plural(limit, "video")}`;
      return `You have used ${used}; more at ${clockTime(reset)} your time.`;
    }
    case "ACTIVE_JOBS_LIMIT": {
      const most = quota ? `${plural(quota.max_active, "video")} at once, the most you can have` : "the most videos you can have at once";
      return `You have ${most} in progress. Wait for one to finish, or cancel one.`;
    }
    case "RATE_LIMITED":
      return `Too many requests at once. Try again in ${seconds(problem.retry_after_seconds || 1)}.`;
    case "IDEMPOTENCY_KEY_REUSED":
      return "This request was already used for a different video. Press Create video again to make this one.";
    case "JOB_TERMINAL":
      return "This video has already finished, so there is nothing to cancel.";
    case "JOB_NOT_RETRYABLE":
      return "Only failed or cancelled videos can be retried.";
    case "JOB_ACTIVE":
      return "This video is still being made. Cancel it first, then delete it.";
    case "JOB_NOT_FOUND":
      return "This video no longer exists. It may have been deleted in another window.";
    case "BODY_TOO_LARGE":
      return "That is too much text to send. Shorten the prompt.";
    default:
      break;
  }
  if (error.status === 401) return "This key was not accepted. Check that you pasted all of it, or ask for a new one.";
  if (error.status === 403) return "This key is not allowed to do that.";
  if (error.status === 404) return "That was not found. It may have been deleted.";
  if (error.status === 400 || error.status === 422) return "Some fields need a change; see the notes next to them.";
  if (error.status === 429) return `The service is busy. Try again in ${seconds(problem.retry_after_seconds || 1)}.`;
  return `The video service had a problem (HTTP ${error.status}).${again}`;
}

const FIELD_WORDS = {
  prompt: {
    required: "Describe the video you want, or give an image to animate.",
    long: "The prompt is too long; shorten it.",
  },
  image_uri: "Use the https:// or gs:// address of a picture.",
  duration_seconds: "Choose one of the listed durations.",
  aspect_ratio: "Choose one of the listed aspect ratios.",
  model: "Choose one of the listed models.",
  providers: "Choose each provider at most once.",
};

// The field an API field error belongs to, and what to tell the user about it.
export function explainField(field, detail) {
  const name = field.replace(/\[\d+\]$/, "");
  const words = FIELD_WORDS[name];
  if (name === "prompt") return words[/at most/.test(detail) ? "long" : "required"];
  if (typeof words === "string") return words;
  return "Check this field.";
}

const PROVIDER_UNAVAILABLE = new Set([
  "PROVIDER_NOT_CONFIGURED",
  "PROVIDER_MISCONFIGURED",
  "PROVIDER_AUTH_FAILED",
  "UNSUPPORTED_SPEC",
  "WEBHOOKS_NOT_SUPPORTED",
]);

// Why a job ended FAILED, without the provider's own text (it may name settings or internals).
export function explainFailure(job) {
  const code = (job.error && job.error.code) || "";
  let why = "The provider could not make this video.";
  if (code === "DEADLINE_EXCEEDED" || /timeout/i.test(code)) {
    why = "It took too long, so it was stopped.";
  } else if (PROVIDER_UNAVAILABLE.has(code)) {
    why = "None of the chosen providers can make this video on this server. Choose another provider.";
  } else if (/^SOURCE_|URL_NOT_ALLOWED|image|file_download/i.test(code)) {
    why = "The image could not be used. Check that its address is public and points to a picture.";
  } else if (/REJECT|bad_request|invalid|unprocessable/i.test(code)) {
    why = "The provider refused these settings. Try another prompt, image or duration.";
  } else if (code === "NOT_A_VIDEO" || code === "OUTPUT_NOT_FOUND") {
    why = "The provider did not deliver a usable video.";
  }
  return `${why} It did not count towards today's quota.`;
}

// Why an unfinished job waits, or why a finished one has no link yet: one sentence for the job's row, or "".
// `queueReason` is the API's own sentence for a job held back by a provider limit ("waiting for a runway slot,
// 12 ahead"); `hasLinks` whether the row still has working links from an earlier read.
export function explainWait(job, queueReason, hasLinks) {
  if (job.state === "COMPLETED") {
    return job.urls_unavailable && !hasLinks
      ? "Your video is stored safely, but its link cannot be made right now. It will appear here by itself."
      : "";
  }
  if (TERMINAL.has(job.state)) return "";
  if (job.waiting_for) return OUR_SERVICES[job.waiting_for] || OUR_SERVICES[""];
  if (job.state === "PENDING" && queueReason) return explainQueue(queueReason);
  return "";
}

// Our own services, named by `waiting_for`: the job waits for them and goes on by itself.
const OUR_SERVICES = {
  provider_service:
    "We cannot reach the video providers for a moment. Nothing is lost: this video carries on by itself when they are back.",
  storage_service:
    "Our video storage cannot be reached for a moment. Nothing is lost: this video is saved as soon as it is back.",
  "": "Part of our service cannot be reached for a moment. Nothing is lost: this video carries on by itself.",
};

function explainQueue(reason) {
  const [, what, ahead] = /^(.*?)(?:, (\d+) ahead)?$/s.exec(reason.trim());
  const count = ahead ? ` (${plural(Number(ahead), "video")} ahead of it)` : "";
  return `${what.charAt(0).toUpperCase()}${what.slice(1)}${count}. It starts by itself when its turn comes.`;
}
