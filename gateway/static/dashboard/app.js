// The dashboard: sign in with a key, create videos, watch them live, act on them.

import { ApiError, Session, StaleSession } from "./api.js";
import { CreateForm } from "./form.js";
import { JobList } from "./jobs.js";
import { clockTime, explain } from "./words.js";

// The key is kept in sessionStorage, not localStorage: it survives a reload of this tab (so a create that a
// reload interrupted can be finished with its key) but is never written for other tabs or later visits to
// find, and it leaves when the tab closes. An API key is a long-lived credential; keep its copies few.
const KEY_STORAGE = "videojobs.key";
const REFRESH_MS = 10000;
const REFRESH_UNWATCHED_MS = 4000;

const $ = (id) => document.getElementById(id);

let session = null;
let quota = null;
let refreshTimer = 0;
let announceTimer = 0;

const list = new JobList(
  { list: $("jobs"), template: $("job-template"), empty: $("empty"), more: $("more") },
  {
    announce,
    error: showError,
    reuse: (spec) => form.reuse(spec),
    details: showViolation,
    confirmDelete,
    changed: () => loadQuota(),
    unauthorized: () => signedOut("This key is no longer accepted. Sign in again."),
    quota: () => quota,
  },
);

const form = new CreateForm(
  {
    form: $("create-form"),
    prompt: $("prompt"),
    count: $("prompt-count"),
    image: $("image"),
    model: $("model"),
    modelField: $("model-field"),
    modelNote: $("model-note"),
    duration: $("duration"),
    aspect: $("aspect"),
    providers: $("providers"),
    providerList: $("provider-list"),
    button: $("create-button"),
    status: $("create-status"),
    error: $("create-error"),
  },
  {
    onCreated: (job) => {
      list.upsert(job);
      announce(`Video “${job.spec.prompt.slice(0, 48) || "from your image"}” was created.`);
      loadQuota();
    },
    onQuota: () => loadQuota(),
    onUnauthorized: () => signedOut("This key is no longer accepted. Sign in again."),
    quota: () => quota,
  },
);

// --- session ----------------------------------------------------------------------------------------

async function signIn(key) {
  endSession();
  hideError();
  const mine = new Session(key);
  session = mine;
  const button = $("signin-form").querySelector("button");
  button.disabled = true;
  try {
    const answer = await mine.request("/v1/quota");
    mine.userId = answer.user_id;
    sessionStorage.setItem(KEY_STORAGE, key);
    setQuota(answer);
  } catch (error) {
    if (error instanceof StaleSession) return;
    if (!(error instanceof ApiError)) throw error;
    // A refused key is forgotten; a server that cannot answer now leaves the key for the next try.
    signedOut(explain(error), { keepKey: error.status !== 401 });
    return;
  } finally {
    button.disabled = false;
  }
  $("signin").hidden = true;
  $("app").hidden = false;
  $("account").hidden = false;
  $("who").textContent = `Signed in as ${mine.userId}`;
  try {
    form.configure(mine, await loadCatalog(mine));
    await list.load(mine, selectedStates());
  } catch (error) {
    if (error instanceof StaleSession) return;
    if (!(error instanceof ApiError)) throw error;
    showError(explain(error)); // the periodic refresh tries again
  }
  if (mine === session) schedule();
}

// Everything of the current user leaves the page: streams, rows, form, quota, timers.
function endSession() {
  if (session) session.close();
  session = null;
  quota = null;
  clearTimeout(refreshTimer);
  list.clear();
  form.reset();
  clearTimeout(announceTimer);
  $("announce").textContent = "";
  $("filter").value = "";
  $("quota").textContent = "";
  $("who").textContent = "";
  $("account").hidden = true;
  $("app").hidden = true;
}

function signedOut(message = "", { keepKey = false } = {}) {
  endSession();
  if (!keepKey) sessionStorage.removeItem(KEY_STORAGE);
  $("signin").hidden = false;
  $("key").value = "";
  if (message) showError(message);
  else hideError();
  $("key").focus();
}

async function loadCatalog(mine) {
  try {
    const catalog = await mine.request("/v1/models");
    return catalog && Array.isArray(catalog.models) ? catalog : null;
  } catch (error) {
    if (error instanceof StaleSession) throw error;
    return null; // an older gateway without the catalog: the form offers the API spec's fields
  }
}

// --- periodic refresh -------------------------------------------------------------------------------

function schedule() {
  clearTimeout(refreshTimer);
  if (!session) return;
  const wait = list.unwatched() ? REFRESH_UNWATCHED_MS : REFRESH_MS;
  refreshTimer = setTimeout(refresh, wait);
}

async function refresh() {
  const mine = session;
  if (!mine) return;
  if (document.visibilityState === "hidden") {
    schedule();
    return;
  }
  try {
    await Promise.all([list.refresh(), loadQuota()]);
    if (mine === session) $("offline").hidden = true;
  } catch (error) {
    if (error instanceof StaleSession) return;
    if (error instanceof ApiError && error.status === 401) {
      signedOut("This key is no longer accepted. Sign in again.");
      return;
    }
    // A failed background refresh says so once, quietly; the next one may work.
    if (error instanceof ApiError && (error.kind === "offline" || error.kind === "network")) $("offline").hidden = false;
  }
  if (mine === session) schedule();
}

// The quota line is information only: a failed read keeps the last one shown.
async function loadQuota() {
  const mine = session;
  if (!mine) return;
  try {
    const answer = await mine.request("/v1/quota");
    if (mine === session) setQuota(answer);
  } catch (error) {
    if (!(error instanceof StaleSession) && !(error instanceof ApiError)) throw error;
  }
}

function setQuota(answer) {
  quota = answer;
  const parts = [`${answer.remaining_today} of ${answer.daily_limit} videos left today`];
  if (answer.resets_at) parts.push(`more at ${clockTime(answer.resets_at)}`);
  parts.push(`${answer.active} of ${answer.max_active} in progress`);
  $("quota").textContent = parts.join(" · ");
}

function selectedStates() {
  const value = $("filter").value;
  return value ? value.split(",") : [];
}

// --- messages and dialogs -------------------------------------------------------------------------

function announce(text) {
  // Re-set so the same sentence twice is read twice.
  const region = $("announce");
  region.textContent = "";
  clearTimeout(announceTimer);
  announceTimer = setTimeout(() => {
    region.textContent = text;
  }, 50);
}

function showError(text) {
  const banner = $("error");
  banner.replaceChildren(text);
  const close = document.createElement("button");
  close.type = "button";
  close.className = "quiet dismiss";
  close.textContent = "Dismiss";
  close.addEventListener("click", hideError);
  banner.append(" ", close);
  banner.hidden = false;
}

function hideError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

function showViolation(job) {
  const dialog = $("violation-dialog");
  $("violation-prompt").textContent = job.spec.prompt || job.spec.image_uri;
  const reasons = (job.error && job.error.violation_reasons) || [];
  $("violation-reasons").replaceChildren(
    ...(reasons.length ? reasons : ["The provider gave no reason."]).map((reason) => {
      const item = document.createElement("li");
      item.textContent = reason;
      return item;
    }),
  );
  $("violation-reuse").onclick = () => {
    dialog.close();
    form.reuse(job.spec);
  };
  const opener = document.activeElement;
  dialog.addEventListener("close", () => {
    if (opener && opener.isConnected && !dialog.contains(opener) && document.activeElement === document.body) opener.focus();
  }, { once: true });
  dialog.showModal();
}

function confirmDelete(job) {
  const dialog = $("delete-dialog");
  $("delete-prompt").textContent = job.spec.prompt || job.spec.image_uri;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue), { once: true });
    dialog.showModal();
  });
}

// --- wiring -----------------------------------------------------------------------------------------

$("signin-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const key = $("key").value.trim();
  if (key) signIn(key);
});
$("switch-key").addEventListener("click", () => signedOut());
$("logout").addEventListener("click", () => {
  if (session && session.userId) form.forget(session.userId);
  signedOut("");
});
$("filter").addEventListener("change", async () => {
  const mine = session;
  if (!mine) return;
  try {
    await list.load(mine, selectedStates());
  } catch (error) {
    if (!(error instanceof StaleSession)) showError(explain(error));
  }
});
window.addEventListener("offline", () => {
  $("offline").hidden = false;
});
window.addEventListener("online", () => {
  $("offline").hidden = true;
  if (session) refresh();
});
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && session) refresh();
});
setInterval(() => list.tick(), 1000);

const stored = sessionStorage.getItem(KEY_STORAGE);
if (stored) signIn(stored);
else signedOut();
