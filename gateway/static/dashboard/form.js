// The create form: its fields come from GET /v1/models when the server has it, else the API spec's.
//
// One idempotency key per *intended* video: made when the form is first filled, stored with the draft in
// localStorage until the server has answered, and sent again as it is on a resubmit, a double click or a
// reload (a reload in the middle of a create sends the same request again by itself). So a video asked for
// once is made once, whatever happens to the page. The key changes only when the server answered, or when
// the user edits a request whose outcome is unknown (that edit is a different video).

import { ApiError, StaleSession, newKey } from "./api.js";
import { explain, explainField } from "./words.js";

const API_MAX_PROMPT = 2000;
const SPEC_PROVIDERS = ["veo", "fal", "runway", "sim"];
const SPEC_DURATIONS = [4, 5, 6, 8, 10];
const SPEC_ASPECTS = ["16:9", "9:16", "1:1"];
const DRAFT_PREFIX = "videojobs.draft.";
// Answers after which the server certainly wrote nothing: the same key may be used again.
const NOTHING_WRITTEN = new Set([400, 401, 403, 404, 409, 413, 422, 429]);

export class CreateForm {
  constructor(ids, callbacks) {
    this.$ = ids;
    this.callbacks = callbacks; // onCreated(job), onQuota(), onUnauthorized(error), quota()
    this.session = null;
    this.catalog = null;
    this.draft = null;
    this.inFlight = false;
    const form = this.$.form;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    form.addEventListener("input", () => this.edited());
    form.addEventListener("change", () => this.edited());
    this.$.model.addEventListener("change", () => this.applyModel());
    this.$.prompt.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    this.$.providerList.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-move]");
      if (button) this.moveProvider(button.closest("li"), Number(button.dataset.move));
    });
  }

  // A signed-in user: build the fields, restore their draft, finish a create a reload interrupted.
  configure(session, catalog) {
    this.session = session;
    this.catalog = catalog;
    this.buildModels();
    this.buildProviders();
    this.applyModel();
    this.draft = this.loadDraft();
    this.fill(this.draft.fields);
    this.updateCounter();
    this.setBusy(false);
    if (this.draft.sent) this.submit({ resumed: true });
  }

  // Signed out or switched: nothing of the previous user stays in the form.
  reset() {
    this.session = null;
    this.draft = null;
    this.inFlight = false;
    this.$.form.reset();
    this.$.providerList.replaceChildren();
    this.$.model.replaceChildren();
    this.$.modelField.hidden = true;
    this.clearMessages();
    this.setBusy(false);
    // Until configure() has the user's fields a click would send nothing: say so by a disabled button.
    this.$.button.disabled = true;
    this.updateCounter();
  }

  forget(userId) {
    localStorage.removeItem(DRAFT_PREFIX + userId);
  }

  // "Reuse prompt": a new intended video with another job's settings.
  reuse(spec) {
    const model = this.modelOptionFor(spec);
    this.fill({
      prompt: spec.prompt,
      image: spec.image_uri,
      model,
      duration: String(spec.duration_seconds || ""),
      aspect: spec.aspect_ratio,
      providers: model ? [] : spec.providers,
    });
    this.edited();
    this.$.prompt.focus();
  }

  // --- fields -----------------------------------------------------------------------------------

  models() {
    return (this.catalog && this.catalog.models) || [];
  }

  selectedModel() {
    const value = this.$.model.value;
    return this.models().find((m) => `${m.provider}|${m.id}` === value) || null;
  }

  modelOptionFor(spec) {
    if (!spec.model) return "";
    const provider = spec.providers.length === 1 ? spec.providers[0] : null;
    const match = this.models().find((m) => m.id === spec.model && (!provider || m.provider === provider));
    return match ? `${match.provider}|${match.id}` : "";
  }

  buildModels() {
    const select = this.$.model;
    select.replaceChildren(new Option("Automatic: the server's default", ""));
    const byProvider = new Map();
    for (const model of this.models()) {
      if (!byProvider.has(model.provider)) byProvider.set(model.provider, []);
      byProvider.get(model.provider).push(model);
    }
    for (const [provider, models] of byProvider) {
      const group = document.createElement("optgroup");
      group.label = provider;
      for (const model of models) {
        const name = model.title || model.id;
        const option = new Option(model.configured ? name : `${name} (not set up here)`, `${model.provider}|${model.id}`);
        option.disabled = !model.configured;
        group.append(option);
      }
      select.append(group);
    }
    this.$.modelField.hidden = byProvider.size === 0;
  }

  buildProviders() {
    const list = this.$.providerList;
    const known = this.catalog && this.catalog.providers
      ? this.catalog.providers.map((p) => ({ name: p.name, configured: p.configured !== false }))
      : SPEC_PROVIDERS.map((name) => ({ name, configured: true }));
    list.replaceChildren(
      ...known.map(({ name, configured }) => {
        const item = document.createElement("li");
        item.dataset.provider = name;
        const label = document.createElement("label");
        const box = document.createElement("input");
        box.type = "checkbox";
        box.value = name;
        box.id = `provider-${name}`;
        box.disabled = !configured;
        label.append(box, ` ${name}`);
        if (!configured) {
          const note = document.createElement("span");
          note.className = "optional";
          note.textContent = " not set up here";
          label.append(note);
        }
        item.append(label, this.moveButton(name, -1, "up", "↑"), this.moveButton(name, 1, "down", "↓"));
        return item;
      }),
    );
  }

  moveButton(name, step, word, arrow) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "move";
    button.dataset.move = String(step);
    button.setAttribute("aria-label", `Move ${name} ${word}`);
    button.textContent = arrow;
    return button;
  }

  moveProvider(item, step) {
    const sibling = step < 0 ? item.previousElementSibling : item.nextElementSibling;
    if (!sibling) return;
    if (step < 0) sibling.before(item);
    else sibling.after(item);
    // At the top or bottom the button just pressed is hidden and cannot keep the focus: a keyboard user
    // would be sent back to the start of the page. The other direction's button takes it instead.
    const atEdge = step < 0 ? !item.previousElementSibling : !item.nextElementSibling;
    item.querySelector(`button[data-move="${atEdge ? -step : step}"]`).focus();
    this.edited();
  }

  // Durations, aspect ratios, prompt length and providers follow the chosen model (or the spec's).
  applyModel() {
    const model = this.selectedModel();
    const listed = model && model.durations && model.durations.length;
    const durations = listed ? model.durations : SPEC_DURATIONS;
    const previousDuration = this.$.duration.value;
    this.$.duration.replaceChildren(
      ...(listed ? [] : [new Option("Default", "")]),
      ...durations.map((d) => new Option(`${d} seconds`, String(d))),
    );
    const wantedDuration = durations.map(String).includes(previousDuration) ? previousDuration
      : model && model.default_duration ? String(model.default_duration) : this.$.duration.options[0].value;
    this.$.duration.value = wantedDuration;
    const aspects = model && model.aspect_ratios && model.aspect_ratios.length ? model.aspect_ratios : SPEC_ASPECTS;
    const previousAspect = this.$.aspect.value;
    this.$.aspect.replaceChildren(...aspects.map((a) => new Option(aspectLabel(a), a)));
    this.$.aspect.value = aspects.includes(previousAspect) ? previousAspect : aspects[0];
    const boxes = this.$.providerList.querySelectorAll("input[type=checkbox]");
    this.$.providers.disabled = Boolean(model);
    if (model) for (const box of boxes) box.checked = box.value === model.provider;
    const modes = model ? model.modes || [] : [];
    this.$.image.required = modes.length > 0 && !modes.includes("text_to_video");
    this.$.image.disabled = modes.length > 0 && !modes.includes("image_to_video");
    this.$.modelNote.textContent = !model ? ""
      : this.$.image.required ? "This model animates an image: give its URL."
      : this.$.image.disabled ? "This model makes videos from text only." : "";
    this.updateCounter();
  }

  maxPrompt() {
    const model = this.selectedModel();
    return Math.min(API_MAX_PROMPT, (model && model.max_prompt_chars) || API_MAX_PROMPT);
  }

  updateCounter() {
    const used = this.$.prompt.value.length;
    const max = this.maxPrompt();
    this.$.count.textContent = `${used} / ${max}`;
    this.$.count.classList.toggle("over", used > max);
  }

  fields() {
    const order = [...this.$.providerList.children].map((item) => item.dataset.provider);
    const providers = order.filter((name) => this.$.providerList.querySelector(`#provider-${name}`).checked);
    return {
      prompt: this.$.prompt.value,
      image: this.$.image.disabled ? "" : this.$.image.value.trim(),
      model: this.$.model.value,
      duration: this.$.duration.value,
      aspect: this.$.aspect.value,
      providers,
      order,
    };
  }

  fill(fields) {
    this.$.prompt.value = fields.prompt || "";
    this.$.image.value = fields.image || "";
    if (fields.model !== undefined && [...this.$.model.options].some((o) => o.value === fields.model && !o.disabled)) {
      this.$.model.value = fields.model;
    }
    this.applyModel();
    const list = this.$.providerList;
    const chosen = fields.providers || [];
    const current = [...list.children].map((item) => item.dataset.provider);
    // The saved order, else the chosen providers first in their order.
    const order = fields.order || [...chosen, ...current.filter((name) => !chosen.includes(name))];
    for (const name of order) {
      const item = list.querySelector(`li[data-provider="${CSS.escape(name)}"]`);
      if (item) list.append(item);
    }
    if (!this.selectedModel()) {
      for (const box of list.querySelectorAll("input[type=checkbox]")) {
        box.checked = !box.disabled && chosen.includes(box.value);
      }
    }
    if ([...this.$.duration.options].some((o) => o.value === fields.duration)) this.$.duration.value = fields.duration;
    if ([...this.$.aspect.options].some((o) => o.value === fields.aspect)) this.$.aspect.value = fields.aspect;
    this.updateCounter();
  }

  body() {
    const fields = this.fields();
    const model = this.selectedModel();
    const body = { prompt: fields.prompt.trim() };
    if (fields.image) body.image_uri = fields.image;
    if (fields.duration) body.duration_seconds = Number(fields.duration);
    if (fields.aspect) body.aspect_ratio = fields.aspect;
    if (model) {
      body.model = model.id;
      body.providers = [model.provider];
    } else if (fields.providers.length) {
      body.providers = fields.providers;
    }
    return body;
  }

  // --- the draft and its key --------------------------------------------------------------------

  draftKey() {
    return DRAFT_PREFIX + this.session.userId;
  }

  loadDraft() {
    try {
      const stored = JSON.parse(localStorage.getItem(this.draftKey()) || "null");
      if (stored && typeof stored.key === "string" && stored.fields) return stored;
    } catch {
      // A damaged draft is dropped.
    }
    return { key: newKey(), sent: false, sentBody: null, fields: this.fields() };
  }

  store() {
    if (this.session && this.draft) localStorage.setItem(this.draftKey(), JSON.stringify(this.draft));
  }

  edited() {
    this.updateCounter();
    if (!this.draft || this.inFlight) return;
    this.draft.fields = this.fields();
    if (this.draft.sent && JSON.stringify(this.draft.sentBody) !== JSON.stringify(this.body())) {
      // The earlier request may or may not have made a video (it shows in the list if it did);
      // this edited one is another video, so it gets its own key.
      this.draft.key = newKey();
      this.draft.sent = false;
      this.draft.sentBody = null;
    }
    this.store();
  }

  // --- sending ----------------------------------------------------------------------------------

  checkLocally(body) {
    let ok = true;
    if (!body.prompt && !body.image_uri) {
      this.fieldError("prompt", "Describe the video you want, or give an image to animate.");
      ok = false;
    } else if (body.prompt.length > this.maxPrompt()) {
      this.fieldError("prompt", `Shorten the prompt to ${this.maxPrompt()} characters.`);
      ok = false;
    }
    if (this.$.image.required && !body.image_uri) {
      this.fieldError("image_uri", "This model needs the URL of an image to animate.");
      ok = false;
    } else if (body.image_uri && !/^(https:\/\/|gs:\/\/)\S+$/i.test(body.image_uri)) {
      this.fieldError("image_uri", "Use the https:// or gs:// address of a picture.");
      ok = false;
    }
    if (!ok) this.formError("Some fields need a change; see the notes next to them.");
    return ok;
  }

  async submit({ resumed = false } = {}) {
    if (this.inFlight || !this.session || !this.draft) return;
    this.clearMessages();
    const body = this.body();
    if (!this.checkLocally(body)) {
      this.draft.sent = false;
      this.store();
      return;
    }
    const session = this.session;
    const draft = this.draft;
    this.inFlight = true;
    this.setBusy(true, resumed ? "Sending the video you asked for before the page reloaded…" : "Sending…");
    draft.sent = true;
    draft.sentBody = body;
    draft.fields = this.fields();
    this.store();
    try {
      const job = await session.request("/v1/videos", {
        method: "POST",
        body,
        headers: { "idempotency-key": draft.key },
      });
      if (session !== this.session) return;
      this.draft = { key: newKey(), sent: false, sentBody: null, fields: null };
      this.$.prompt.value = "";
      this.$.image.value = "";
      this.draft.fields = this.fields();
      this.store();
      this.updateCounter();
      this.callbacks.onCreated(job);
    } catch (error) {
      if (error instanceof StaleSession || session !== this.session) return;
      this.failed(error, draft);
    } finally {
      if (session === this.session) {
        this.inFlight = false;
        this.setBusy(false);
      }
    }
  }

  failed(error, draft) {
    if (!(error instanceof ApiError)) throw error;
    if (error.kind === "problem" && NOTHING_WRITTEN.has(error.status)) {
      draft.sent = false;
      draft.sentBody = null;
      if (error.reason === "IDEMPOTENCY_KEY_REUSED") draft.key = newKey();
    }
    this.store();
    if (error.status === 401) {
      this.callbacks.onUnauthorized(error);
      return;
    }
    for (const item of error.problem.errors || []) {
      if (item.field && !item.field.startsWith("user:")) this.fieldError(item.field, explainField(item.field, item.detail));
    }
    if (error.status === 429) this.callbacks.onQuota();
    this.formError(explain(error, { quota: this.callbacks.quota(), action: "create" }));
  }

  setBusy(busy, text = "") {
    this.$.button.disabled = busy;
    this.$.button.setAttribute("aria-busy", String(busy));
    this.$.status.textContent = text;
  }

  fieldError(field, text) {
    const name = field.replace(/\[\d+\]$/, "");
    const target = {
      prompt: "prompt",
      image_uri: "image",
      duration_seconds: "duration",
      aspect_ratio: "aspect",
      providers: "providers",
      model: "model",
    }[name];
    const slot = document.getElementById(`${target || "prompt"}-error`);
    if (slot) slot.textContent = text;
    const input = document.getElementById(target || "prompt");
    if (input) input.setAttribute("aria-invalid", "true");
  }

  formError(text) {
    this.$.error.textContent = text;
    this.$.error.hidden = false;
  }

  clearMessages() {
    this.$.error.hidden = true;
    this.$.error.textContent = "";
    for (const slot of this.$.form.querySelectorAll(".field-error")) slot.textContent = "";
    for (const input of this.$.form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  }
}

function aspectLabel(ratio) {
  const names = { "16:9": "16:9 wide", "9:16": "9:16 tall", "1:1": "1:1 square" };
  return names[ratio] || ratio;
}
