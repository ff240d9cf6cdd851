// The job list: one card per job, kept current by SSE streams and the page's periodic refresh.

import { ApiError, StaleSession } from "./api.js";
import { JobStream } from "./live.js";
import { STATES, TERMINAL, clockTime, explain, explainFailure, explainWait } from "./words.js";

export const PAGE_SIZE = 12;
// A browser keeps at most 6 HTTP/1.1 connections per server; streams beyond these few would starve the
// page's own requests. Unfinished jobs without a stream are kept current by the faster refresh instead.
const MAX_STREAMS = 4;
// Signed URLs are swapped for fresh ones this long before they expire (and at once when one fails).
const URL_MARGIN_MS = 5 * 60 * 1000;
const MEDIA_RETRY_MS = 30 * 1000;
const BACKGROUND_RETRY_MS = 30 * 1000;
// A completed job whose links could not be made (storage briefly out of reach) is read again this often.
const LINK_RETRY_MS = 5 * 1000;

export class JobList {
  constructor(ids, callbacks) {
    this.$ = ids;
    this.callbacks = callbacks; // announce(text), error(text), reuse(spec), changed(), unauthorized(error), quota()
    this.session = null;
    this.rows = new Map();
    this.states = [];
    this.nextPageToken = "";
    this.$.list.addEventListener("click", (event) => this.clicked(event));
    this.$.more.addEventListener("click", () => this.loadMore());
  }

  // --- loading ----------------------------------------------------------------------------------

  async load(session, states) {
    this.clear();
    this.session = session;
    this.states = states;
    const page = await this.page("");
    if (session !== this.session) return;
    for (const job of page.jobs) this.upsert(job);
    this.setNext(page.next_page_token);
    this.showEmpty();
  }

  async loadMore() {
    const session = this.session;
    this.$.more.disabled = true;
    try {
      const page = await this.page(this.nextPageToken);
      if (session !== this.session) return;
      for (const job of page.jobs) this.upsert(job);
      this.setNext(page.next_page_token);
    } catch (error) {
      this.failed(error);
    } finally {
      this.$.more.disabled = false;
    }
  }

  page(token) {
    const query = new URLSearchParams({ page_size: String(PAGE_SIZE) });
    if (token) query.set("page_token", token);
    for (const state of this.states) query.append("state", state);
    return this.session.request(`/v1/videos?${query}`);
  }

  // The periodic light refresh: the first page again (new jobs made elsewhere, retries, deletions).
  async refresh() {
    const session = this.session;
    if (!session) return;
    const page = await this.page("");
    if (session !== this.session) return;
    const seen = new Set(page.jobs.map((job) => job.id));
    const complete = !page.next_page_token;
    const oldest = page.jobs.length ? created(page.jobs[page.jobs.length - 1]) : Infinity;
    for (const [id, row] of this.rows) {
      // Inside the range this page covers and not in it: deleted elsewhere, or out of the filter now.
      if (!seen.has(id) && (complete || created(row.job) >= oldest)) this.remove(id);
    }
    for (const job of page.jobs) this.upsert(job);
    if (!this.nextPageToken || this.rows.size <= page.jobs.length) this.setNext(page.next_page_token);
    this.showEmpty();
    // The list does not say why a job still waits to start (only a read of the job does), nor how many
    // are ahead of it now.
    for (const row of this.rows.values()) {
      if (row.job.state === "PENDING" && !row.refreshing) this.refreshJob(row);
    }
  }

  clear() {
    for (const row of this.rows.values()) if (row.stream) row.stream.stop();
    this.rows.clear();
    this.$.list.replaceChildren();
    this.session = null;
    this.nextPageToken = "";
    this.$.more.hidden = true;
    this.$.empty.hidden = true;
  }

  setNext(token) {
    this.nextPageToken = token || "";
    this.$.more.hidden = !this.nextPageToken;
  }

  showEmpty() {
    this.$.empty.hidden = this.rows.size > 0;
  }

  // Unfinished jobs no stream follows: the page refreshes sooner while there are some.
  unwatched() {
    return [...this.rows.values()].filter((row) => !TERMINAL.has(row.job.state) && !row.stream).length;
  }

  // --- rows -------------------------------------------------------------------------------------

  upsert(job, { live = false } = {}) {
    let row = this.rows.get(job.id);
    if (!row) {
      row = this.createRow(job);
    } else if (isOlder(job, row.job)) {
      return row; // an answer that left before the last event we applied
    } else if (live && row.job.state !== job.state) {
      this.callbacks.announce(`“${short(job)}” is now ${STATES[job.state] || job.state}.`);
      if (TERMINAL.has(job.state)) this.callbacks.changed(); // the quota's "in progress" moved
    }
    // Only a read of one job says why it waits to start; the list and later events leave queue_reason
    // empty, so the last reason known is kept for as long as the job waits.
    if (job.state !== "PENDING") row.queueReason = "";
    else if (job.queue_reason) row.queueReason = job.queue_reason;
    row.job = job;
    this.takeUrls(row, job);
    this.render(row);
    this.follow(row);
    this.showEmpty();
    return row;
  }

  createRow(job) {
    const element = this.$.template.content.firstElementChild.cloneNode(true);
    element.id = `job-${job.id}`;
    element.dataset.id = job.id;
    const row = { job, element, stream: null, streamStatus: "", urls: null, mediaRetry: 0, queueReason: "" };
    element.querySelector(".thumb").addEventListener("error", () => this.mediaFailed(row));
    const player = element.querySelector(".player");
    player.addEventListener("error", () => this.mediaFailed(row));
    // Whether the user wants it playing, so a reload after an expired URL carries on.
    player.addEventListener("play", () => {
      row.wantsPlay = true;
    });
    player.addEventListener("pause", () => {
      if (!player.error && !player.ended) row.wantsPlay = false;
    });
    this.rows.set(job.id, row);
    this.place(row);
    return row;
  }

  // Newest first, as the API lists them.
  place(row) {
    const mine = created(row.job);
    const before = [...this.$.list.children].find((other) => {
      const theirs = this.rows.get(other.dataset.id);
      return theirs && theirs !== row && created(theirs.job) < mine;
    });
    this.$.list.insertBefore(row.element, before || null);
  }

  remove(id) {
    const row = this.rows.get(id);
    if (!row) return;
    if (row.stream) row.stream.stop();
    row.element.remove();
    this.rows.delete(id);
    this.showEmpty();
  }

  // Signed URLs change on every read; keep the ones shown until they near expiry, so images do not reload.
  takeUrls(row, job) {
    const now = this.now();
    if (job.urls_unavailable) {
      // Stored, but no links could be made just now: keep those still valid, and ask again soon.
      row.retryAt = Date.now() + LINK_RETRY_MS;
      if (row.urls && now < row.urls.expires) return;
    }
    if (!job.video_url && !job.thumbnail_url) {
      row.urls = null;
      return;
    }
    if (row.urls && now < row.urls.refreshAt) return;
    const expires = job.urls_expire_time ? Date.parse(job.urls_expire_time) : Infinity;
    // Replaced URL_MARGIN_MS before expiry, or at 80% of a short lifetime.
    const refreshAt = expires - Math.min(URL_MARGIN_MS, (expires - now) / 5);
    row.urls = { video: job.video_url, thumbnail: job.thumbnail_url, expires, refreshAt };
  }

  render(row) {
    const { job, element } = row;
    const state = job.state;
    element.dataset.state = state;
    const prompt = element.querySelector(".prompt");
    prompt.textContent = job.spec.prompt || "Animated image";
    prompt.title = job.spec.prompt || job.spec.image_uri;
    const badge = element.querySelector(".badge");
    badge.textContent = STATES[state] || state;
    badge.className = `badge state-${state.toLowerCase()}`;
    const live = element.querySelector(".live");
    live.hidden = TERMINAL.has(state) || row.streamStatus !== "reconnecting";
    element.querySelector(".facts").textContent = facts(job, this.now()).join(" · ");
    const note = element.querySelector(".job-note");
    note.textContent = explainWait(job, row.queueReason, Boolean(row.urls && row.urls.video));
    note.hidden = !note.textContent;
    this.renderError(row);
    this.renderMedia(row);
    this.renderActions(row);
  }

  renderError(row) {
    const { job, element } = row;
    const slot = element.querySelector(".job-error");
    let text = "";
    if (job.state === "FAILED") text = explainFailure(job);
    if (job.state === "CONTENT_VIOLATION") text = "The provider's content policy blocked this video.";
    slot.textContent = text;
    slot.hidden = !text;
  }

  renderMedia(row) {
    const { job, element, urls } = row;
    const thumbButton = element.querySelector(".thumb-button");
    const thumb = element.querySelector(".thumb");
    const player = element.querySelector(".player");
    const placeholder = element.querySelector(".placeholder");
    const ready = job.state === "COMPLETED" && urls && urls.video;
    placeholder.hidden = Boolean(ready);
    placeholder.classList.toggle("busy", !TERMINAL.has(job.state));
    placeholder.querySelector(".placeholder-text").textContent = job.state === "COMPLETED" && job.urls_unavailable
      ? "Video stored"
      : TERMINAL.has(job.state) ? "No video" : `${STATES[job.state]}…`;
    if (!ready) {
      thumbButton.hidden = true;
      player.hidden = true;
      return;
    }
    thumbButton.setAttribute("aria-label", `Play “${short(job)}”`);
    const reload = row.reloadMedia;
    row.reloadMedia = false;
    if (urls.thumbnail && (reload || thumb.getAttribute("src") !== urls.thumbnail)) thumb.src = urls.thumbnail;
    if (player.hidden) {
      thumbButton.hidden = false;
    } else if (reload || player.getAttribute("src") !== urls.video) {
      swapSource(player, urls.video, row.wantsPlay);
    }
  }

  renderActions(row) {
    const { job, element, urls } = row;
    const state = job.state;
    const show = (action, visible) => {
      element.querySelector(`[data-action="${action}"]`).hidden = !visible;
    };
    const hasVideo = state === "COMPLETED" && Boolean(urls && urls.video);
    show("details", state === "CONTENT_VIOLATION");
    show("download", hasVideo);
    show("copy", hasVideo);
    show("cancel", !TERMINAL.has(state));
    show("retry", state === "FAILED" || state === "CANCELLED");
    show("delete", TERMINAL.has(state));
    const download = element.querySelector(".download");
    if (hasVideo) {
      download.href = urls.video;
      download.setAttribute("download", `${slug(job)}.mp4`);
    } else {
      download.removeAttribute("href");
    }
  }

  now() {
    return this.session ? this.session.serverNow() : Date.now();
  }

  // Elapsed times tick; URLs near expiry are replaced.
  tick() {
    const now = this.now();
    for (const row of this.rows.values()) {
      if (!TERMINAL.has(row.job.state)) row.element.querySelector(".facts").textContent = facts(row.job, now).join(" · ");
      const stale = row.urls ? now >= row.urls.refreshAt : row.job.urls_unavailable;
      if (stale && !row.refreshing && Date.now() >= (row.retryAt || 0)) this.refreshJob(row);
    }
  }

  // The job again, with freshly signed URLs; `reload` loads the media again even if a URL did not change.
  // It runs in the background: a failure is retried later, quietly.
  async refreshJob(row, { reload = false } = {}) {
    const session = this.session;
    row.refreshing = true;
    try {
      const job = await session.request(`/v1/videos/${encodeURIComponent(row.job.id)}`);
      if (session !== this.session || !this.rows.has(job.id)) return;
      if (!job.urls_unavailable) row.urls = null; // take the new URLs whatever their age
      row.reloadMedia = reload;
      this.upsert(job);
    } catch (error) {
      if (error instanceof StaleSession) return;
      if (!(error instanceof ApiError)) throw error;
      if (error.status === 404) this.remove(row.job.id);
      else if (error.status === 401) this.callbacks.unauthorized(error);
      else row.retryAt = Date.now() + BACKGROUND_RETRY_MS;
    } finally {
      row.refreshing = false;
    }
  }

  // A thumbnail or video that fails to load may have an expired URL: fetch fresh ones (not in a loop).
  mediaFailed(row) {
    if (Date.now() - row.mediaRetry < MEDIA_RETRY_MS || !this.rows.has(row.job.id)) return;
    row.mediaRetry = Date.now();
    this.refreshJob(row, { reload: true });
  }

  // --- streams ----------------------------------------------------------------------------------

  follow(row) {
    if (TERMINAL.has(row.job.state)) {
      if (row.stream) row.stream.stop();
      row.stream = null;
      row.streamStatus = "";
      return;
    }
    if (row.stream || this.streams() >= MAX_STREAMS) return;
    const session = this.session;
    row.stream = new JobStream(session, row.job.id, {
      onJob: (job, event) => {
        if (session !== this.session) return;
        // A "queued" event's message is why the job waits ("waiting for a runway slot"), without the count.
        if (event.type === "queued" && !row.queueReason) row.queueReason = event.message;
        this.upsert(job, { live: true });
      },
      onStatus: (status) => {
        row.streamStatus = status;
        if (session === this.session) this.render(row);
      },
      onEnd: (reason) => {
        row.stream = null;
        row.streamStatus = "";
        if (session !== this.session) return;
        if (reason === "gone") this.remove(row.job.id);
        else if (reason === "unauthorized") this.callbacks.unauthorized();
        else this.render(row);
        this.followWaiting();
      },
    }).start();
  }

  streams() {
    return [...this.rows.values()].filter((row) => row.stream).length;
  }

  // A stream slot came free: follow the oldest unfinished job that has none.
  followWaiting() {
    const waiting = [...this.rows.values()].reverse().find((row) => !TERMINAL.has(row.job.state) && !row.stream);
    if (waiting) this.follow(waiting);
  }

  // --- actions ----------------------------------------------------------------------------------

  clicked(event) {
    const target = event.target.closest("[data-action], .thumb-button");
    if (!target) return;
    const row = this.rows.get(target.closest(".job").dataset.id);
    if (!row) return;
    if (target.classList.contains("thumb-button")) {
      this.play(row);
      return;
    }
    const action = target.dataset.action;
    if (action === "download") return; // the link itself downloads
    event.preventDefault();
    const handlers = {
      details: () => this.callbacks.details(row.job),
      copy: () => this.copy(row),
      cancel: () => this.act(row, "cancel", target),
      retry: () => this.act(row, "retry", target),
      delete: () => this.confirmDelete(row, target),
      reuse: () => this.callbacks.reuse(row.job.spec),
    };
    handlers[action]();
  }

  play(row) {
    const element = row.element;
    const player = element.querySelector(".player");
    element.querySelector(".thumb-button").hidden = true;
    element.classList.add("playing");
    player.hidden = false;
    if (row.urls && row.urls.thumbnail) player.poster = row.urls.thumbnail;
    row.wantsPlay = true;
    swapSource(player, row.urls.video, true);
    player.focus();
  }

  async copy(row) {
    const button = row.element.querySelector('[data-action="copy"]');
    try {
      await navigator.clipboard.writeText(row.urls.video);
      const until = Number.isFinite(row.urls.expires) ? ` (works until ${clockTime(row.urls.expires)})` : "";
      button.textContent = "Copied";
      this.callbacks.announce(`Link copied${until}.`);
    } catch {
      button.textContent = "Copy failed";
      this.callbacks.error("The browser did not allow copying. Use Download, or open the video and copy its address.");
    }
    setTimeout(() => {
      button.textContent = "Copy link";
    }, 2500);
  }

  async act(row, action, button) {
    const session = this.session;
    button.disabled = true;
    try {
      const job = await session.request(`/v1/videos/${encodeURIComponent(row.job.id)}/${action}`, { method: "POST" });
      if (session !== this.session) return;
      row.urls = null;
      this.upsert(job, { live: true });
      this.callbacks.changed();
    } catch (error) {
      this.failed(error, row);
    } finally {
      button.disabled = false;
    }
  }

  async confirmDelete(row, button) {
    const answer = await this.callbacks.confirmDelete(row.job);
    if (answer !== "delete") {
      button.focus();
      return;
    }
    const session = this.session;
    try {
      await session.request(`/v1/videos/${encodeURIComponent(row.job.id)}`, { method: "DELETE" });
      if (session !== this.session) return;
      const next = row.element.nextElementSibling || row.element.previousElementSibling;
      this.remove(row.job.id);
      this.callbacks.announce(`“${short(row.job)}” was deleted.`);
      this.callbacks.changed();
      const focusable = next ? next.querySelector("button:not([hidden])") : null;
      if (focusable) focusable.focus();
    } catch (error) {
      this.failed(error, row);
    }
  }

  failed(error, row = null) {
    if (error instanceof StaleSession) return;
    if (!(error instanceof ApiError)) throw error;
    if (error.status === 401) {
      this.callbacks.unauthorized(error);
      return;
    }
    if (row && error.status === 404) this.remove(row.job.id);
    else if (row && error.status === 409) this.refreshJob(row); // it moved on meanwhile: show where it is
    this.callbacks.error(explain(error, { quota: this.callbacks.quota() }));
  }
}

function created(job) {
  return Date.parse(job.create_time) || 0;
}

function isOlder(job, than) {
  const a = Date.parse(job.update_time || "") || 0;
  const b = Date.parse(than.update_time || "") || 0;
  return a < b;
}

function short(job) {
  const text = job.spec.prompt || "Animated image";
  return text.length > 48 ? `${text.slice(0, 47)}…` : text;
}

function slug(job) {
  const words = (job.spec.prompt || "video").toLowerCase().match(/[a-z0-9]+/g) || ["video"];
  return words.slice(0, 6).join("-");
}

function facts(job, now) {
  const out = [];
  const provider = job.provider || (job.spec.providers || [])[0];
  if (provider) out.push(provider);
  out.push(`attempt ${job.attempt || 1}`);
  out.push(elapsed(job, now));
  if (job.video && job.video.duration_seconds) out.push(`${Math.round(job.video.duration_seconds)} s video`);
  if (job.spec.aspect_ratio) out.push(job.spec.aspect_ratio);
  return out;
}

function elapsed(job, now) {
  const start = Date.parse(job.create_time);
  const end = TERMINAL.has(job.state) ? Date.parse(job.end_time || job.update_time) : now;
  const total = Math.max(0, Math.round((end - start) / 1000));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  const text = hours ? `${hours} h ${minutes} min` : minutes ? `${minutes} min ${seconds} s` : `${seconds} s`;
  return TERMINAL.has(job.state) ? `took ${text}` : `${text} so far`;
}

// A new source for a player, keeping its position; `play` starts it (a refused autoplay leaves the controls).
function swapSource(player, url, play) {
  const at = player.currentTime || 0;
  player.src = url;
  player.load();
  if (at) player.currentTime = at;
  if (play) player.play().catch(() => {});
}
