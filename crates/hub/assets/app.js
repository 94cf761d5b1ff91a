// @ts-check
/**
 * The monitoring-room viewer: sign-in, the wall of beds (live sweeps, levels, staleness,
 * alerts, who is watching), one patient's chart drawn like CTG paper with the analysis
 * overlays, and the on-call page for a phone. Plain ES modules served by the hub; no build.
 *
 * The WebSocket handler only stores samples; drawing happens once per animation frame, and
 * only for what arrived (the wall's sweep is incremental).
 */
import { t, tf, toggleLanguage, language } from "./i18n.js";
import { SampleStore, Sweep, decodeFrame, drawChart, LEVELS, HZ, lowSignal, crossChannelLabel } from "./paper.js";

/** @typedef {{id: number, facility: string, bed: string, bridge: string, device: any,
 *   episode_start_utc_ms: number, next_sample_seq: number|null, live: boolean,
 *   last_block_age_ms: number|null, bridge_connected: boolean, level: any,
 *   patient: any, episode_id: number|null, labour: any, bridge_clock_offset_ms: number|null, watchers: string[],
 *   ended_ms: number|null}} WallBed */

/** @typedef {{info: WallBed, store: SampleStore, sweep: Sweep|null, card: HTMLElement|null,
 *   lastFrameAt: number, polledAt: number, lastValues: number[], lastQuality: number[], lossSince: number|null,
 *   dirty: boolean, findings: any[], underWays: Map<string, any>, levels: Map<string, any>}} Bed */

const app = /** @type {HTMLElement} */ (document.getElementById("app"));

const state = {
  /** @type {any} */ user: null,
  /** @type {Map<number, Bed>} */ beds: new Map(),
  /** @type {Map<number, any>} */ alerts: new Map(),
  /** @type {WebSocket|null} */ ws: null,
  /** @type {Set<number>} */ subscribed: new Set(),
  /** @type {Set<number>} */ wanted: new Set(),
  /** @type {string} */ view: "",
  /** @type {any} */ chart: null,
  frameTimes: /** @type {number[]} */ ([]),
  lastFrame: 0,
  soundOn: localStorage.getItem("mimamori.sound") !== "off",
  sort: localStorage.getItem("mimamori.sort") ?? "level",
  facilityFilter: "",
  alertsOnly: false,
  perPage: Number(localStorage.getItem("mimamori.perPage") ?? 16),
  page: 0,
  /** When the hub ended this page's session without its sign-out button (ms), if it did. */
  /** @type {number | null} */ signedOutAt: null,
  /** When this browser's session ends (ms since the Unix epoch), as the hub said. */
  /** @type {number | null} */ sessionExpiresMs: null,
  /** Streams a deceleration under way was shown for (read by the browser test). */
  /** @type {Set<number>} */ underWaySeen: new Set(),
};

/** Test and benchmark hooks (read by the browser test). */
const hooks = {
  /** Frame-to-frame times of the animation loop, ms. */
  frameTimes: () => state.frameTimes.slice(),
  resetFrameTimes: () => { state.frameTimes = []; },
  /** How much of each bed's trace the page keeps, s (the test shortens it). */
  keepSeconds: (/** @type {number} */ seconds) => { keepSeconds = seconds; },
  /** The stream whose chart is open, if one is. */
  chartStream: () => state.chart?.id ?? null,
  /** Sounds the alarm (if sound is on), as an alert does. */
  beep: () => beep(),
  /** Per bed: samples held (and the newest's number), the state shown, the level shown. */
  beds: () => [...state.beds.values()].map((b) => ({
    id: b.info.id, facility: b.info.facility, bed: b.info.bed, samples: b.store.end - (Number.isFinite(b.store.start) ? b.store.start : b.store.end),
    end: b.store.end, chunks: b.store.chunks.size,
    state: b.card?.dataset.state, level: b.card?.dataset.level,
    indicative: b.card?.querySelector(".level")?.classList.contains("indicative") ?? false,
    signalPercent: b.info.level?.evidence?.signal_percent ?? null,
    underWay: b.card?.querySelector(".underway")?.textContent ?? "",
    stoppedDecelerating: b.card?.classList.contains("stopped-decelerating") ?? false,
    ended: Boolean(b.info.ended_ms),
  })),
  /** Streams whose card has shown a deceleration under way. */
  underWaySeen: () => [...state.underWaySeen],
  /** Draws the alert list again, as an alert's change does. */
  redrawAlerts: () => renderAlerts(),
  /** Draws the whole wall again, as a change in the beds' order does. */
  redrawWall: () => { if (state.view === "wall") renderWall(); },
  /** The open chart's hover targets: the finding's kind and its box on the canvas, CSS px. */
  chartHits: () => (state.chart?.hits ?? []).map((/** @type {any} */ h) => ({ kind: h.finding.kind, channel: h.finding.channel, source: h.finding.source, x0: h.x0, x1: h.x1, y0: h.y0, y1: h.y1 })),
};
Object.assign(window, { mimamori: hooks });

// ───────────────────────────── the API ─────────────────────────────

/**
 * @param {string} path
 * @param {RequestInit & {json?: any}} [options]
 */
async function api(path, options = {}) {
  const init = { ...options, credentials: /** @type {RequestCredentials} */ ("same-origin"), headers: { "Content-Type": "application/json" } };
  if (options.json !== undefined) init.body = JSON.stringify(options.json);
  const response = await fetch(path, init);
  if (response.status === 401 && state.user && path !== "/api/login") {
    signedOutByHub();
    throw new Error("signed out");
  }
  const body = response.headers.get("content-type")?.includes("json") ? await response.json() : await response.text();
  if (!response.ok) throw Object.assign(new Error(body?.error ?? String(body)), { status: response.status, body });
  return body;
}

/**
 * The hub ended this page's session (expired, signed out elsewhere, the account disabled, a
 * new password): back to the sign-in form, which says when.
 */
function signedOutByHub() {
  state.signedOutAt = Date.now();
  state.user = null;
  render();
}

/**
 * What to say when the hub refuses a sign-in (or a renewal, which is one): `wrong` is the
 * words for a wrong password where no code was asked. A refusal that asks for the
 * authenticator's code says so; the caller shows the code field.
 * @param {any} failure
 * @param {boolean} codeAsked
 * @param {string} wrong
 */
function refusalWords(failure, codeAsked, wrong) {
  if (failure?.status === 429) return tf("loginLocked", { minutes: Math.max(1, Math.ceil((failure.body?.retry_after_s ?? 60) / 60)) });
  if (failure?.status === 503) return t("loginBusy");
  if (failure?.body?.code_required) return t("enterCode");
  if (failure?.body?.second_factor_missing) return t("secondFactorMissing");
  if (failure?.body?.disabled) return t("loginDisabled");
  return t(codeAsked ? "wrongCode" : wrong);
}

/**
 * Makes an element.
 * @param {string} tag
 * @param {Record<string, any>} [props]
 * @param {(Node|string|null|undefined)[]} [children]
 */
function h(tag, props = {}, children = []) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) el.append(c);
  return el;
}

// ───────────────────────────── words ─────────────────────────────

/** @param {any} p */
function gestation(p) {
  if (!p || p.gestational_weeks == null) return "";
  return `${t("ga")} ${p.gestational_weeks}${t("weeks")}${p.gestational_days ?? 0}${t("days")}`;
}

/** @param {number} ms */
function ago(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 120 ? `${s}${t("secondsAgo")}` : `${Math.round(s / 60)}${t("minutesAgo")}`;
}

/** @param {number} ms */
function clock(ms) {
  return new Date(ms).toLocaleTimeString(language() === "ja" ? "ja-JP" : "en-GB", { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

/** @param {any} alert */
function alertWords(alert) {
  const kind = alert.kind?.kind ?? "";
  const level = kind === "jsog_level" ? ` ${alert.kind.level}` : "";
  return `${t(kind)}${level}`;
}

/** A JSOG table input among an alert's facts, and the prefix of its phrases. @type {Record<string, string>} */
const TABLE_INPUT = { baseline: "col_", variability: "var_", deceleration: "row_" };

/**
 * What an alert is about, in the user's language: its facts (`alert.facts`, from the alert
 * rules' `Said`) in the `alert_<text>` phrase; the hub's English detail where it has none.
 * Minutes are given to one decimal, as the rules measured them; a `…_type` fact is a
 * deceleration type, named by its phrase, and a JSOG table input by its `col_`/`var_`/`row_` one.
 * @param {any} alert
 */
function alertDetail(alert) {
  const facts = alert.facts;
  const key = facts?.text ? `alert_${facts.text}` : "";
  if (!key || t(key) === key) return alert.detail ?? "";
  /** @type {Record<string, string | number>} */
  const values = {};
  for (const [name, value] of Object.entries(facts)) {
    values[name] = ["start_min", "minutes", "final_minutes"].includes(name) && typeof value === "number" ? value.toFixed(1)
      : name.endsWith("_type") && typeof value === "string" ? t(value)
      : name in TABLE_INPUT && typeof value === "string" ? t(TABLE_INPUT[name] + value) : value;
  }
  return tf(key, values);
}

/** @param {any} alert */
function alertStream(alert) {
  return alert.subject?.stream?.id ?? null;
}

/** @param {any} alert */
function alertPlace(alert) {
  const id = alertStream(alert);
  const bed = id != null ? state.beds.get(id) : null;
  const fetus = alert.subject?.stream?.fetus ? ` · ${String(alert.subject.stream.fetus).toUpperCase()}` : "";
  if (bed) return `${bed.info.facility} · ${bed.info.bed}${bed.info.patient ? " · " + bed.info.patient.name : ""}${fetus}`;
  const b = alert.subject?.bridge;
  return b ? `${b.facility} · ${b.name}` : "";
}

// ───────────────────────────── sign-in ─────────────────────────────

function renderLogin() {
  const error = h("p", { class: "error", role: "alert" });
  // Signed out by the hub, not by the button: say so, since this screen no longer shows the
  // traces or sounds the alerts it did.
  const ended = state.signedOutAt != null
    ? h("p", { class: "signed-out", role: "alert" }, [tf("signedOutAt", { time: clock(state.signedOutAt) })])
    : null;
  // The authenticator's code, shown once the hub asks for it (a user with a second factor).
  const codeInput = h("input", { name: "code", inputmode: "numeric", autocomplete: "one-time-code", pattern: "[0-9 ]{6,7}", maxlength: "7" });
  const codeLabel = h("label", { class: "code", hidden: true }, [t("authCode"), codeInput]);
  const form = h("form", {
    class: "login",
    onsubmit: async (/** @type {Event} */ e) => {
      e.preventDefault();
      const data = new FormData(/** @type {HTMLFormElement} */ (e.target));
      const code = codeLabel.hidden ? undefined : String(data.get("code") ?? "");
      try {
        const body = await api("/api/login", { method: "POST", json: { username: data.get("username"), password: data.get("password"), code } });
        state.user = body.user;
        state.sessionExpiresMs = body.session_expires_ms ?? null;
        state.signedOutAt = null;
        if (!location.hash || location.hash === "#/") location.hash = "#/wall";
        render();
      } catch (/** @type {any} */ failure) {
        error.textContent = refusalWords(failure, !codeLabel.hidden, "wrongLogin");
        if (failure?.body?.code_required) {
          codeLabel.hidden = false;
          /** @type {HTMLInputElement} */ (codeInput).required = true;
          /** @type {HTMLInputElement} */ (codeInput).value = "";
          /** @type {HTMLInputElement} */ (codeInput).focus();
        }
      }
    },
  }, [
    h("h1", {}, [t("title")]),
    ended,
    h("label", {}, [t("username"), h("input", { name: "username", autocomplete: "username", required: true })]),
    h("label", {}, [t("password"), h("input", { name: "password", type: "password", autocomplete: "current-password", required: true })]),
    codeLabel,
    h("button", { type: "submit" }, [t("signIn")]),
    error,
    languageButton(),
  ]);
  app.replaceChildren(form);
}

function languageButton() {
  return h("button", { type: "button", class: "lang", onclick: () => { toggleLanguage(); document.documentElement.lang = language(); render(); rewordNotifications(); } }, [t("language")]);
}

/**
 * The service worker words Web Push notifications in the language in its URL
 * (`sw.js?lang=…`); when the user switches language, a browser that has one registers it
 * again under the new URL (its push subscription stays with the registration).
 */
async function rewordNotifications() {
  try {
    const registration = await navigator.serviceWorker?.getRegistration("/");
    if (registration) await navigator.serviceWorker.register(`/sw.js?lang=${language()}`, { scope: "/" });
  } catch { /* no service workers here */ }
}

function topBar() {
  return h("nav", { class: "top" }, [
    h("strong", {}, ["見守り Mimamori"]),
    h("a", { href: "#/wall", class: state.view === "wall" ? "active" : "" }, [t("wall")]),
    h("a", { href: "#/oncall", class: state.view === "oncall" ? "active" : "" }, [t("oncall")]),
    state.user?.role === "admin" ? h("a", { href: "#/rosters", class: state.view === "rosters" ? "active" : "" }, [t("rosters")]) : null,
    state.user?.role === "admin" ? h("a", { href: "#/users", class: state.view === "users" ? "active" : "" }, [t("users")]) : null,
    state.user?.role === "admin" ? h("a", { href: "#/audit", class: state.view === "audit" ? "active" : "" }, [t("auditLog")]) : null,
    h("span", { class: "spacer" }),
    h("a", { class: `me${state.view === "account" ? " active" : ""}`, href: "#/account", title: t("account") }, [`${state.user?.username ?? ""} (${state.user?.facility ?? ""})`]),
    h("label", { class: "sound" }, [
      h("input", { type: "checkbox", checked: state.soundOn, onchange: (/** @type {any} */ e) => { state.soundOn = e.target.checked; localStorage.setItem("mimamori.sound", state.soundOn ? "on" : "off"); } }),
      t("sound"),
    ]),
    languageButton(),
    h("button", { type: "button", onclick: async () => { await api("/api/logout", { method: "POST" }).catch(() => {}); state.user = null; render(); } }, [t("signOut")]),
    sessionBanner(),
  ]);
}

// ───────────────────────────── the session's end ─────────────────────────────

/** The session's last minutes, when the viewer offers to sign in again. */
const SESSION_WARN_MS = 30 * 60_000;
/** The last minutes, when the offer turns red and the wall beeps (with sound on). */
const SESSION_URGENT_MS = 5 * 60_000;

/** @type {HTMLElement | null} One element, moved into every top bar (so a typed password survives a redraw). */
let sessionBannerEl = null;

/**
 * The offer to stay signed in: a wall signed out in the middle of a shift shows no traces and
 * sounds no alerts, so its last half hour says so and takes the password (and the code, for a
 * user with a second factor) without leaving the wall.
 */
function sessionBanner() {
  if (sessionBannerEl) return sessionBannerEl;
  const left = h("span", { class: "left" });
  const password = h("input", { name: "renew-password", type: "password", autocomplete: "current-password", required: true, "aria-label": t("password") });
  const code = h("input", { name: "renew-code", inputmode: "numeric", autocomplete: "one-time-code", maxlength: "7", hidden: true, "aria-label": t("authCode"), placeholder: t("authCode") });
  const said = h("span", { class: "said", role: "status" });
  const form = h("form", { class: "renew", onsubmit: async (/** @type {Event} */ e) => {
    e.preventDefault();
    const codeInput = /** @type {HTMLInputElement} */ (code);
    try {
      const body = await api("/api/me/renew", { method: "POST", json: { password: /** @type {HTMLInputElement} */ (password).value, code: codeInput.hidden ? undefined : codeInput.value } });
      state.sessionExpiresMs = body.session_expires_ms ?? null;
      /** @type {HTMLFormElement} */ (form).reset();
      codeInput.hidden = true;
      said.textContent = "";
      updateSessionBanner();
      // The live connection moves to the new session (the old one ends in two minutes).
      state.ws?.close();
    } catch (/** @type {any} */ failure) {
      said.textContent = refusalWords(failure, !codeInput.hidden, "wrongPassword");
      if (failure?.body?.code_required) {
        codeInput.hidden = false;
        codeInput.required = true;
        codeInput.focus();
      }
    }
  } }, [password, code, h("button", { type: "submit", class: "renew" }, [t("renewSession")]), said]);
  sessionBannerEl = h("div", { class: "session-ending", id: "session-banner", role: "alert", hidden: true }, [left, form]);
  return sessionBannerEl;
}

/** Shows, words or hides the offer to stay signed in (every second). */
function updateSessionBanner() {
  const banner = sessionBanner();
  const left = state.sessionExpiresMs ? state.sessionExpiresMs - Date.now() : Infinity;
  banner.hidden = !(left < SESSION_WARN_MS);
  if (banner.hidden) return;
  banner.classList.toggle("urgent", left < SESSION_URGENT_MS);
  const words = /** @type {HTMLElement} */ (banner.querySelector(".left"));
  words.textContent = tf("sessionEnding", { minutes: Math.max(0, Math.ceil(left / 60_000)) });
  // In the language in use now (the element outlives a switch of language).
  /** @type {HTMLElement} */ (banner.querySelector("button.renew")).textContent = t("renewSession");
  banner.querySelector("input[name=renew-password]")?.setAttribute("aria-label", t("password"));
}

// ───────────────────────────── live data ─────────────────────────────

function connect() {
  if (state.ws && state.ws.readyState <= 1) return;
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/ws`);
  ws.binaryType = "arraybuffer";
  state.ws = ws;
  state.subscribed = new Set();
  ws.onopen = () => syncSubscriptions();
  ws.onclose = (event) => {
    state.ws = null;
    if (event.code === 4401) {
      signedOutByHub();
      return;
    }
    if (state.user) setTimeout(connect, 1000);
  };
  ws.onmessage = (event) => {
    if (event.data instanceof ArrayBuffer) {
      const frame = decodeFrame(event.data);
      if (frame) onSamples(frame);
      return;
    }
    const message = JSON.parse(event.data);
    if (message.alert) onAlert(message.alert);
    else if (message.finding) onFinding(message.stream, message.finding);
    // A stream not (yet) live at the hub: ask again at the next poll.
    else if (message.error && message.stream != null) state.subscribed.delete(message.stream);
  };
}

/** Subscribes to exactly the streams the current view needs. */
function syncSubscriptions() {
  const ws = state.ws;
  if (!ws || ws.readyState !== 1) return;
  for (const id of state.subscribed) {
    if (!state.wanted.has(id)) {
      ws.send(JSON.stringify({ unsubscribe: id }));
      state.subscribed.delete(id);
    }
  }
  for (const id of state.wanted) {
    if (!state.subscribed.has(id)) {
      ws.send(JSON.stringify({ subscribe: id }));
      state.subscribed.add(id);
    }
  }
}

/**
 * How much of each bed's trace the page keeps in memory, s: the wall shows minutes, and a
 * chart fetches what it shows from the hub. The wall runs for days on the monitoring room's
 * screen, so without a bound it would hold every sample since it was opened (about 4 MB a
 * bed a day).
 */
let keepSeconds = 2 * 3600;

/**
 * Forgets what `bed` holds before the last `keepSeconds`, apart from what its open chart
 * shows (and a span either side, for scrolling).
 * @param {Bed} bed @param {number} stream
 */
function forgetOld(bed, stream) {
  let from = bed.store.end - keepSeconds * HZ;
  const c = state.chart;
  if (c && c.id === stream) from = Math.min(from, c.startSeq - spanSeq());
  // Once per minute of trace at most (the store holds whole minutes).
  if (from - bed.store.start >= 240) bed.store.dropBefore(from);
}

/** @param {{stream: number, firstSeq: number, count: number, values: Uint16Array, quality: Uint8Array}} frame */
function onSamples(frame) {
  const bed = state.beds.get(frame.stream);
  if (!bed) return;
  const wasEnd = bed.store.end;
  for (let i = 0; i < frame.count; i++) bed.store.put(frame.firstSeq + i, frame.values.subarray(i * 5, i * 5 + 5));
  forgetOld(bed, frame.stream);
  if (bed.store.end > wasEnd) {
    bed.lastFrameAt = performance.now();
    const last = (frame.count - 1) * 5;
    bed.lastValues = Array.from(frame.values.subarray(last, last + 5));
    bed.lastQuality = Array.from(frame.quality.subarray(last, last + 5));
    const fhrPresent = bed.lastValues[0] > 0 || bed.lastValues[1] > 0 || bed.lastValues[2] > 0;
    if (fhrPresent) bed.lossSince = null;
    else if (bed.lossSince == null) bed.lossSince = performance.now();
  }
  bed.dirty = true;
  if (state.chart && state.chart.id === frame.stream) state.chart.dirty = true;
}

/** @param {number} stream @param {any} finding */
function onFinding(stream, finding) {
  const bed = state.beds.get(stream);
  if (!bed) return;
  // Twins: each fetus's findings name its channel (`fetal_channel`); a stream's one fetus's none.
  const fetus = finding.fetal_channel ?? "";
  if (finding.kind === "deceleration_under_way") {
    // Provisional, not a finding: shown on the card while it lasts, never on the chart.
    if (finding.ended) bed.underWays.delete(fetus);
    else bed.underWays.set(fetus, { ...finding, at: performance.now() });
    if (!finding.ended) state.underWaySeen.add(stream);
    updateCard(bed);
    if (state.chart?.id === stream) updateChartUnderWay();
    return;
  }
  if (finding.kind === "classification") {
    // The card shows the highest of the fetuses' newest levels (as the hub's wall does).
    if (fetus) bed.levels.delete("");
    bed.levels.set(fetus, finding);
    bed.info.level = [...bed.levels.values()].reduce((a, b) => (b.jsog_level > a.jsog_level ? b : a));
    updateCard(bed);
  }
  if (state.chart && state.chart.id === stream) {
    state.chart.findings.push(finding);
    if (String(finding.kind).startsWith("cross_channel")) state.chart.findings = settled(state.chart.findings);
    state.chart.dirty = true;
    renderEventList();
  }
}

/** @param {any} alert */
function onAlert(alert) {
  const isNew = !state.alerts.has(alert.id);
  state.alerts.set(alert.id, alert);
  if (isNew && !alert.acknowledged && !alert.resolved_ms) {
    beep();
    notify(alert);
  }
  renderAlerts();
  const id = alertStream(alert);
  const bed = id != null ? state.beds.get(id) : null;
  if (bed) updateCard(bed);
}

/** The page's one audio context (made at the first alarm, then kept). */
/** @type {AudioContext | null} */
let audioContext = null;

/**
 * A short two-tone alarm, if sound is on (browsers allow it after the first click). One
 * audio context serves every alarm: the wall repeats the alarm every 15 s while an alert is
 * unacknowledged, and a context made for each (never closed) piled up by the thousand a day
 * on the monitoring room's screen until the browser's audio gave out.
 */
function beep() {
  if (!state.soundOn) return;
  try {
    audioContext ??= new AudioContext();
    const audio = audioContext;
    if (audio.state === "suspended") audio.resume().catch(() => {});
    for (const [i, f] of [880, 660].entries()) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      gain.gain.value = 0.08;
      osc.frequency.value = f;
      osc.connect(gain).connect(audio.destination);
      osc.start(audio.currentTime + i * 0.18);
      osc.stop(audio.currentTime + i * 0.18 + 0.16);
    }
  } catch { /* no audio device */ }
}

/** @param {any} alert */
function notify(alert) {
  if (typeof Notification === "undefined" || Notification.permission !== "granted") return;
  try { new Notification(`${t("alerts")}: ${alertWords(alert)}`, { body: `${alertPlace(alert)}\n${alertDetail(alert)}`, tag: String(alert.id) }); } catch { /* not allowed here */ }
}

/** Unacknowledged alerts on a stream. */
function openAlerts(/** @type {number} */ stream) {
  return [...state.alerts.values()].filter((a) => alertStream(a) === stream && !a.acknowledged && !a.resolved_ms);
}

/** Wall requests sent, and the newest whose answer was taken (an older answer arriving after a
 * newer one, as when a change is fetched at once beside the 2-s poll, is dropped). */
let wallAsked = 0, wallTaken = 0;

async function pollWall() {
  const asked = ++wallAsked;
  // The chart's bed, even one whose monitoring ended long ago (not listed otherwise).
  const list = /** @type {WallBed[]} */ (await api(state.chart ? `/api/wall?also=${state.chart.id}` : "/api/wall"));
  if (asked < wallTaken) return;
  wallTaken = asked;
  const now = performance.now();
  const seen = new Set();
  for (const info of list) {
    seen.add(info.id);
    let bed = state.beds.get(info.id);
    if (!bed) {
      bed = { info, store: new SampleStore(), sweep: null, card: null, lastFrameAt: 0, polledAt: now, lastValues: [0, 0, 0, 0, 0], lastQuality: [0, 0, 0, 0, 0], lossSince: null, dirty: true, findings: [], underWays: new Map(), levels: new Map() };
      state.beds.set(info.id, bed);
    } else {
      const level = bed.info.level;
      bed.info = { ...info, level: info.level ?? level };
      bed.polledAt = now;
    }
  }
  for (const id of [...state.beds.keys()]) if (!seen.has(id) && state.chart?.id !== id) state.beds.delete(id);
}

async function loadAlerts() {
  const body = await api("/api/alerts");
  state.alerts = new Map(body.alerts.map((/** @type {any} */ a) => [a.id, a]));
}

/**
 * What a bed shows: live, signal loss, or stale (with the reason and since when).
 * @param {Bed} bed
 */
function bedState(bed) {
  const now = performance.now();
  const serverAge = bed.info.last_block_age_ms == null ? Infinity : bed.info.last_block_age_ms + (now - bed.polledAt);
  const clientAge = bed.lastFrameAt ? now - bed.lastFrameAt : Infinity;
  const age = Math.min(serverAge, clientAge);
  if (age > 5000) {
    // The hub learns that a bridge is gone only when its connection times out (10 s), so a
    // bridge still counted as connected with no data for less than 15 s is "cause unknown yet".
    const reason = !bed.info.bridge_connected ? t("staleBridge") : age < 15000 ? t("staleUnknown") : t("staleMonitor");
    return { state: "stale", text: `${t("stale")} · ${reason} · ${Number.isFinite(age) ? ago(age) : ""}`, stoppedAt: now - age };
  }
  if (bed.lossSince != null && now - bed.lossSince > 10000) {
    return { state: "signal-loss", text: `${t("signalLoss")} · ${ago(now - bed.lossSince)}` };
  }
  return { state: "live", text: "" };
}

// ───────────────────────────── the wall ─────────────────────────────

/** @param {Bed} bed */
function levelOf(bed) {
  return bed.info.level?.jsog_level ?? 0;
}

function sortedBeds() {
  // A bed whose monitoring ended is not on the wall (the list of recently ended beds opens it).
  let beds = [...state.beds.values()].filter((b) => !b.info.ended_ms);
  if (state.facilityFilter) beds = beds.filter((b) => b.info.facility === state.facilityFilter);
  if (state.alertsOnly) beds = beds.filter((b) => openAlerts(b.info.id).length > 0);
  const byName = (/** @type {Bed} */ a, /** @type {Bed} */ b) => `${a.info.facility}/${a.info.bed}`.localeCompare(`${b.info.facility}/${b.info.bed}`);
  if (state.sort === "level") beds.sort((a, b) => levelOf(b) - levelOf(a) || byName(a, b));
  else if (state.sort === "alert") beds.sort((a, b) => openAlerts(b.info.id).length - openAlerts(a.info.id).length || byName(a, b));
  else beds.sort(byName);
  return beds;
}

function renderWall() {
  const facilities = [...new Set([...state.beds.values()].filter((b) => !b.info.ended_ms).map((b) => b.info.facility))].sort();
  const beds = sortedBeds();
  const ended = [...state.beds.values()].filter((b) => b.info.ended_ms).sort((a, b) => Number(b.info.ended_ms) - Number(a.info.ended_ms));
  const pages = Math.max(1, Math.ceil(beds.length / state.perPage));
  state.page = Math.min(state.page, pages - 1);
  const shown = beds.slice(state.page * state.perPage, (state.page + 1) * state.perPage);
  const controls = h("div", { class: "controls" }, [
    h("label", {}, [t("sort"), h("select", { onchange: (/** @type {any} */ e) => { state.sort = e.target.value; localStorage.setItem("mimamori.sort", state.sort); renderWall(); } },
      ["level", "facility", "alert"].map((s) => h("option", { value: s, selected: state.sort === s }, [t(s === "level" ? "byLevel" : s === "facility" ? "byFacility" : "byAlert")])))]),
    h("label", {}, [t("facility"), h("select", { onchange: (/** @type {any} */ e) => { state.facilityFilter = e.target.value; renderWall(); } },
      [h("option", { value: "" }, [t("allFacilities")]), ...facilities.map((f) => h("option", { value: f, selected: state.facilityFilter === f }, [f]))])]),
    h("label", {}, [h("input", { type: "checkbox", checked: state.alertsOnly, onchange: (/** @type {any} */ e) => { state.alertsOnly = e.target.checked; renderWall(); } }), t("alertsOnly")]),
    h("label", {}, [t("bedsPerPage"), h("select", { onchange: (/** @type {any} */ e) => { state.perPage = Number(e.target.value); localStorage.setItem("mimamori.perPage", String(state.perPage)); renderWall(); } },
      [16, 24, 32].map((n) => h("option", { value: n, selected: state.perPage === n }, [String(n)])))]),
    ended.length ? h("label", {}, [t("recentlyEnded"), h("select", { class: "ended", onchange: (/** @type {any} */ e) => { if (e.target.value) location.hash = `#/bed/${e.target.value}`; } },
      [h("option", { value: "" }, [tf("endedBeds", { count: String(ended.length) })]), ...ended.map((b) => h("option", { value: String(b.info.id) }, [`${b.info.facility} · ${b.info.bed}${b.info.patient ? ` · ${b.info.patient.name}` : ""} (${clock(Number(b.info.ended_ms))})`]))])]) : null,
    pages > 1 ? h("span", { class: "pager" }, [
      h("button", { type: "button", onclick: () => { state.page = (state.page + pages - 1) % pages; renderWall(); } }, ["◀"]),
      `${t("page")} ${state.page + 1} / ${pages}`,
      h("button", { type: "button", onclick: () => { state.page = (state.page + 1) % pages; renderWall(); } }, ["▶"]),
    ]) : null,
  ]);
  const grid = h("section", { class: `wall per-${state.perPage}` }, shown.length ? shown.map(bedCard) : [h("p", {}, [t("noBeds")])]);
  const panel = h("aside", { class: "alerts", id: "alert-panel" });
  app.replaceChildren(topBar(), h("main", { class: "wall-view" }, [h("div", { class: "wall-left" }, [controls, grid]), panel]));
  // The cards' words and states at once, now that they are on the page (not at the next tick).
  for (const bed of shown) updateCard(bed);
  state.wanted = new Set(shown.map((b) => b.info.id));
  syncSubscriptions();
  renderAlerts();
}

/** @param {Bed} bed */
function bedCard(bed) {
  const paper = h("canvas", { class: "paper" });
  const trace = h("canvas", { class: "trace" });
  const card = h("article", { class: "bed", tabindex: 0, dataset: { stream: String(bed.info.id) }, onclick: () => { location.hash = `#/bed/${bed.info.id}`; }, onkeydown: (/** @type {KeyboardEvent} */ e) => { if (e.key === "Enter") location.hash = `#/bed/${bed.info.id}`; } }, [
    h("header", {}, [
      h("span", { class: "level" }),
      h("span", { class: "where" }, [`${bed.info.facility} · ${bed.info.bed}`]),
      h("span", { class: "underway" }),
      h("span", { class: "badges" }),
    ]),
    h("div", { class: "patient-line" }, [h("span", { class: "patient" }), h("span", { class: "labour" })]),
    h("div", { class: "plot" }, [paper, trace, h("div", { class: "cover" })]),
    h("footer", {}, [
      h("span", { class: "fhr" }), h("span", { class: "unit" }, ["bpm"]),
      h("span", { class: "toco" }),
      h("span", { class: "quality", role: "img" }),
      h("span", { class: "watchers" }),
    ]),
  ]);
  bed.card = card;
  bed.sweep = new Sweep(/** @type {HTMLCanvasElement} */ (paper), /** @type {HTMLCanvasElement} */ (trace), 600);
  bed.dirty = true;
  return card;
}

/** Advice that escalates care: given only with the bedside carer it was confirmed with. */
const ESCALATIONS = ["prepare_expedited_delivery", "perform_expedited_delivery", "maternal_transport"];

/** Maternal temperature from which it is marked (intrapartum fever, NICE NG235, ACOG 712). */
const FEVER_C = 38.0;

/**
 * The labour's context as the bedside recorded it (the wall's `labour`: each field's newest
 * value and when), as words, in a fixed order; `alarm` for a fever or meconium-stained liquor.
 * `short` words the liquor briefly (for a card).
 * @param {any} labour @param {boolean} [short]
 * @returns {{key: string, text: string, alarm: boolean, at_ms: number}[]}
 */
function labourItems(labour, short = false) {
  if (!labour) return [];
  /** @type {{key: string, text: string, alarm: boolean, at_ms: number}[]} */
  const items = [];
  const add = (/** @type {string} */ key, /** @type {(v: any) => string} */ words, /** @type {(v: any) => boolean} */ alarm = () => false) => {
    const o = labour[key];
    if (o) items.push({ key, text: words(o.value), alarm: alarm(o.value), at_ms: o.at_ms });
  };
  add("dilation_cm", (v) => `${t("dilation")} ${v} cm`);
  add("oxytocin_mu_min", (v) => (v > 0 ? `${t("oxytocin")} ${v} mU/min` : t("oxytocinStopped")));
  add("epidural", (v) => t(v ? "epidural" : "epiduralOff"));
  add("membranes", (v) => `${t("membranes")} ${t(v)}`);
  add("liquor", (v) => (short && v === "meconium" ? t("meconiumShort") : `${t("liquor")} ${t(v)}`), (v) => v === "meconium");
  add("temperature_c", (v) => `${t("temperature")} ${Number(v).toFixed(1)} °C`, (v) => v >= FEVER_C);
  return items;
}

/**
 * Shows labour items in `el`, each with when it was recorded, alarms marked.
 * @param {HTMLElement | null} el @param {{key: string, text: string, alarm: boolean, at_ms: number}[]} items
 */
function showLabour(el, items) {
  if (!el) return;
  const words = items.map((i) => i.text).join(" · ");
  if (el.dataset.words === words) return;
  el.dataset.words = words;
  el.replaceChildren(...items.flatMap((i, k) => [
    k ? " · " : "",
    h("span", { class: i.alarm ? "alarm" : "", dataset: { key: i.key }, title: tf("labourAsOf", { what: i.key === "temperature_c" && i.alarm ? `${i.text}: ${t("fever")}` : i.text, time: clock(i.at_ms) }) }, [i.text]),
  ]));
}

/**
 * One labour observation in the patient panel: when it was made (and recorded, if later), who,
 * what; one withdrawn as entered in error is struck through with who withdrew it and why, and
 * any other has a button to withdraw it, which asks why first.
 * @param {number} episode @param {any} o
 */
function observationLine(episode, o) {
  const words = h("span", { class: "what" }, [`${clock(o.at_ms)} ${o.by}: ${observationWords(o)}${o.recorded_ms - o.at_ms >= 60000 ? ` (${tf("recordedLater", { time: clock(o.recorded_ms) })})` : ""}`]);
  if (o.retracted) {
    return h("li", { class: "retracted", dataset: { observation: String(o.id) } }, [words, ` ${tf("withdrawnBecause", { reason: o.retracted.reason, who: o.retracted.by })}`]);
  }
  const said = h("span", { class: "error" });
  const reason = /** @type {HTMLInputElement} */ (h("input", { name: "reason", required: true, maxlength: "200", placeholder: t("withdrawReason"), "aria-label": t("withdrawReason") }));
  const form = h("form", { class: "withdraw", hidden: true, onsubmit: async (/** @type {Event} */ e) => {
    e.preventDefault();
    try {
      await api(`/api/episodes/${episode}/observations/${o.id}/retract`, { method: "POST", json: { reason: reason.value } });
      await pollWall().catch(() => {});
      updateChartContext();
      renderPatient();
    } catch (err) { said.textContent = String(err); }
  } }, [reason, h("button", { type: "submit" }, [t("withdraw")]), said]);
  const open = h("button", { type: "button", class: "withdraw", onclick: () => { form.hidden = false; open.hidden = true; reason.focus(); } }, [t("enteredInError")]);
  return h("li", { dataset: { observation: String(o.id) } }, [words, " ", open, form]);
}

/**
 * The form that ends a bed's monitoring (the labour over, the woman moved): with a reason, it
 * takes the bed off the wall and resolves its stall and level alerts; the hub refuses while
 * the monitor still sends (the wrong bed, or the monitor not yet off), and says so here.
 * @param {number} stream
 */
function endMonitoringForm(stream) {
  const said = h("span", { class: "error" });
  return h("form", { class: "end-monitoring", onsubmit: async (/** @type {Event} */ e) => {
    e.preventDefault();
    const data = new FormData(/** @type {HTMLFormElement} */ (e.target));
    try {
      await api(`/api/streams/${stream}/end`, { method: "POST", json: { reason: String(data.get("reason") ?? "") } });
      await loadAlerts().catch(() => {});
      location.hash = "#/wall";
    } catch (err) { said.textContent = /** @type {any} */ (err).status === 409 ? t("stillSending") : String(err); }
  } }, [
    h("h4", {}, [t("endMonitoring")]),
    h("input", { name: "reason", required: true, maxlength: "200", placeholder: t("endReason"), "aria-label": t("endReason") }),
    h("button", { type: "submit" }, [t("endMonitoring")]),
    said,
  ]);
}

/**
 * When an observation was made, from the form's `HH:MM` in local time ("" : null, now): the
 * latest such time not after now (an examination at 23:50 written up at 00:10 was yesterday's).
 * @param {string} hhmm
 * @returns {number | null}
 */
function observedTime(hhmm) {
  const m = /^([0-9]{2}):([0-9]{2})$/.exec(hhmm);
  if (!m) return null;
  const at = new Date();
  at.setHours(Number(m[1]), Number(m[2]), 0, 0);
  if (at.getTime() > Date.now() + 60000) at.setDate(at.getDate() - 1);
  return at.getTime();
}

/**
 * One observation's values in words (what it recorded, nothing else).
 * @param {any} o
 */
function observationWords(o) {
  /** @type {Record<string, any>} */
  const as = {};
  for (const key of ["dilation_cm", "oxytocin_mu_min", "epidural", "temperature_c", "membranes", "liquor"]) {
    if (o[key] !== undefined && o[key] !== null) as[key] = { value: o[key], at_ms: o.at_ms };
  }
  return labourItems(as).map((i) => i.text).join(" · ");
}

/**
 * A deceleration under way, as `↓ m:ss −depth` ("" for none), and whether the bed's data
 * stopped while it was under way. Updated every 15 s while it lasts, so it is gone 40 s after
 * the last update even if its end message was missed; on a stale bed, the one under way when
 * the data stopped stays (marked so) for as long as the bed is stale: what followed is not
 * known, and the hub's stall alert says the same.
 * @param {Bed} bed @param {number | undefined} stoppedAt when its data stopped (`bedState`)
 * @returns {{text: string, atStop: boolean}}
 */
function underWayNow(bed, stoppedAt) {
  const reference = stoppedAt ?? performance.now();
  // Of the fetuses' (twins'), the one under way longest.
  const u = [...bed.underWays.values()].filter((w) => reference - w.at < 40000)
    .reduce((/** @type {any} */ a, w) => (!a || w.duration_s > a.duration_s ? w : a), null);
  if (!u) return { text: "", atStop: false };
  const text = `${fetusLabel(u)}↓ ${Math.floor(u.duration_s / 60)}:${String(Math.floor(u.duration_s % 60)).padStart(2, "0")} −${Math.round(u.depth_bpm)}`;
  return stoppedAt == null ? { text, atStop: false } : { text: `${text} · ${t("underWayAtStop")}`, atStop: true };
}

/**
 * The fetal channel a twin's finding is about, as a prefix (`FHR2 · `); "" for a stream's one
 * fetus.
 * @param {any} f
 */
function fetusLabel(f) {
  return f?.fetal_channel ? `${String(f.fetal_channel).toUpperCase()} · ` : "";
}

/** Bridge clocks at least this far off the hub's are said on the chart (as the alert rules). */
const CLOCK_OFF_MS = 30000;

/** Data this far behind the hub's clock is marked late on the chart. */
const LATE_MS = 30000;

/**
 * The newest sample's time on the hub's clock (its stream time, corrected by its bridge's
 * clock offset) and how far it is behind now, ms; null before any sample.
 * @param {Bed} bed
 */
function dataAsOf(bed) {
  const start = bed.info.episode_start_utc_ms;
  if (!start || !(bed.store.end > 0)) return null;
  const at = start + ((bed.store.end - 1) / HZ) * 1000 - (bed.info.bridge_clock_offset_ms ?? 0);
  return { at, lag: Date.now() - at };
}

/** The chart's context line: the bedside's labour context, a bridge clock off the hub's, and
 * how current the trace is ("data as of hh:mm:ss, lag N s": clinical.md §4.3). */
function updateChartContext() {
  const c = state.chart;
  if (!c) return;
  const asOf = document.getElementById("chart-asof");
  const current = dataAsOf(c.bed);
  if (asOf) {
    // A trace ahead of the hub's clock: a replay faster than real time, or a clock far off.
    asOf.textContent = !current ? "" : current.lag < -5000 ? tf("dataAhead", { time: clock(current.at) })
      : tf("dataAsOf", { time: clock(current.at), lag: Math.max(0, Math.round(current.lag / 1000)) });
    asOf.classList.toggle("late", !!current && current.lag >= LATE_MS);
  }
  showLabour(document.getElementById("chart-labour"), labourItems(c.bed.info.labour));
  const el = document.getElementById("chart-clock");
  if (!el) return;
  const offset = c.bed.info.bridge_clock_offset_ms ?? 0;
  const off = Math.abs(offset) >= CLOCK_OFF_MS;
  const seconds = Math.round(Math.abs(offset) / 1000);
  el.textContent = off ? tf("bridgeClockOff", { seconds: offset > 0 ? `+${seconds}` : `−${seconds}` }) : "";
  el.title = off ? tf(offset > 0 ? "alert_bridge_clock_ahead" : "alert_bridge_clock_behind", { bridge: c.bed.info.bridge, seconds }) : "";
}

/** The chart's line for its bed's deceleration under way. */
function updateChartUnderWay() {
  const el = document.getElementById("chart-underway");
  if (!el || !state.chart) return;
  const { text, atStop } = underWayNow(state.chart.bed, bedState(state.chart.bed).stoppedAt);
  el.textContent = text ? `${t("decelerationUnderWayShort")} ${text}` : "";
  el.title = text ? t(atStop ? "decelerationUnderWayAtStop" : "decelerationUnderWay") : "";
}

/** Updates a card's words and state (not its trace). @param {Bed} bed */
function updateCard(bed) {
  const card = bed.card;
  if (!card || !card.isConnected) return;
  const level = levelOf(bed);
  const info = LEVELS[/** @type {1|2|3|4|5} */ (level)];
  const levelEl = /** @type {HTMLElement} */ (card.querySelector(".level"));
  levelEl.textContent = info ? `${info.shape} ${level}` : "–";
  levelEl.style.background = info ? info.colour : "#999";
  // A level resting on too little signal is shown as indicative, as on the chart.
  const indicative = info ? lowSignal(bed.info.level) : false;
  levelEl.classList.toggle("indicative", indicative);
  if (indicative) levelEl.textContent += "?";
  levelEl.title = info ? `${t("level")} ${level}: ${t("level" + level)} (${t("tableVersion")} ${bed.info.level.table_version})${indicative ? ` · ${tf("signalShare", { percent: Math.round(bed.info.level.evidence.signal_percent) })} · ${t("lowSignal")}` : ""}` : t("levelUnknown");
  card.dataset.level = String(level);
  const p = bed.info.patient;
  /** @type {HTMLElement} */ (card.querySelector(".patient")).textContent = p ? `${p.name} · ${gestation(p)}` : t("noPatient");
  // The bedside's context, briefly: dilation, and a fever or meconium where there is one.
  showLabour(/** @type {HTMLElement} */ (card.querySelector(".labour")), labourItems(bed.info.labour, true).filter((i) => i.key === "dilation_cm" || i.alarm));
  const alerts = openAlerts(bed.info.id);
  const badges = /** @type {HTMLElement} */ (card.querySelector(".badges"));
  badges.textContent = alerts.length ? `⚠ ${alerts.length}` : "";
  badges.title = alerts.map(alertWords).join(", ");
  card.classList.toggle("alerting", alerts.length > 0);
  const shown = bedState(bed);
  const underWay = underWayNow(bed, shown.stoppedAt);
  const underWayEl = /** @type {HTMLElement} */ (card.querySelector(".underway"));
  underWayEl.textContent = underWay.text;
  underWayEl.title = underWay.text ? t(underWay.atStop ? "decelerationUnderWayAtStop" : "decelerationUnderWay") : "";
  card.classList.toggle("decelerating", underWay.text !== "" && !underWay.atStop);
  card.classList.toggle("stopped-decelerating", underWay.atStop);
  const { state: s, text } = shown;
  card.dataset.state = s;
  /** @type {HTMLElement} */ (card.querySelector(".cover")).textContent = text;
  const v = bed.lastValues;
  // Signal quality of the channel shown (the monitor's own: 1 none, 2 poor, 3 fair, 4 good;
  // 0 where the device does not report it).
  const q = bed.lastQuality[v[0] > 0 ? 0 : 1] ?? 0;
  const quality = /** @type {HTMLElement} */ (card.querySelector(".quality"));
  quality.dataset.quality = String(s === "stale" ? 1 : q);
  quality.title = `${t("quality")}: ${t(["qualityUnknown", "qualityNone", "qualityPoor", "qualityFair", "qualityGood"][s === "stale" ? 1 : q] ?? "qualityUnknown")}`;
  quality.textContent = ["?", "✕", "▁", "▃", "▅"][s === "stale" ? 1 : q] ?? "?";
  /** @type {HTMLElement} */ (card.querySelector(".fhr")).textContent = s === "stale" ? "---" : v[0] > 0 ? String(Math.round(v[0] / 4)) : v[1] > 0 ? String(Math.round(v[1] / 4)) : "---";
  /** @type {HTMLElement} */ (card.querySelector(".toco")).textContent = s === "stale" ? "" : `${t("toco")} ${Math.round(v[4] / 2)}`;
  /** @type {HTMLElement} */ (card.querySelector(".watchers")).textContent = bed.info.watchers?.length ? `${t("watching")}: ${bed.info.watchers.join(", ")}` : "";
}

function renderAlerts() {
  const panel = document.getElementById("alert-panel");
  if (!panel) return;
  const all = [...state.alerts.values()].sort((a, b) => b.raised_ms - a.raised_ms);
  const open = all.filter((a) => !a.acknowledged && !a.resolved_ms);
  // The 30 closed most recently (acknowledged or resolved), newest first: one just
  // acknowledged is at the top of them, however long ago it was raised.
  const closedAt = (/** @type {any} */ a) => Math.max(a.acknowledged?.at_ms ?? 0, a.resolved_ms ?? 0);
  const rest = all.filter((a) => a.acknowledged || a.resolved_ms).sort((a, b) => closedAt(b) - closedAt(a)).slice(0, 30);
  // The list is drawn again whenever any alert changes, and the whole wall whenever its
  // beds change order: what someone is typing (a reason, a snooze's length) stays, and so does
  // the cursor.
  const focused = document.activeElement && panel.contains(document.activeElement) ? draftKey(document.activeElement) : null;
  for (const key of alertDrafts.keys()) {
    if (!open.some((a) => key.startsWith(`${a.id}|`))) alertDrafts.delete(key);
  }
  panel.replaceChildren(...[
    h("h2", {}, [`${t("alerts")} (${open.length})`]),
    open.length ? null : h("p", { class: "quiet" }, [t("noAlerts")]),
    ...open.map((a) => alertItem(a, false)),
    ...rest.map((a) => alertItem(a, false)),
  ].filter((n) => n !== null));
  for (const el of panel.querySelectorAll(".alert[data-alert] input, .alert[data-alert] select")) {
    const key = draftKey(el);
    const value = alertDrafts.get(key);
    if (value !== undefined) /** @type {HTMLInputElement} */ (el).value = value;
    if (key === focused) /** @type {HTMLElement} */ (el).focus();
  }
}

/** What is typed or chosen in the alert list's forms, kept across redraws: "alert|field" → value. */
const alertDrafts = new Map();

/** The draft key of a field in an alert's item. @param {Element} el */
function draftKey(el) {
  return `${/** @type {HTMLElement | null} */ (el.closest(".alert[data-alert]"))?.dataset.alert}|${el.getAttribute("name") ?? el.className}`;
}

for (const kind of ["input", "change"]) {
  document.addEventListener(kind, (e) => {
    const el = e.target;
    if ((el instanceof HTMLInputElement || el instanceof HTMLSelectElement) && el.closest(".alert[data-alert]")) alertDrafts.set(draftKey(el), el.value);
  });
}

/** @param {any} alert @param {boolean} oneTap */
function alertItem(alert, oneTap) {
  const stream = alertStream(alert);
  const done = alert.acknowledged || alert.resolved_ms;
  const reason = h("input", { class: "reason", placeholder: t("reason"), "aria-label": t("reason") });
  const error = h("span", { class: "error" });
  const ack = async (/** @type {string} */ why) => {
    if (!why.trim()) { error.textContent = t("reasonNeeded"); return; }
    try {
      const body = await api(`/api/alerts/${alert.id}/ack`, { method: "POST", json: { reason: why } });
      onAlert(body.alert);
    } catch (e) { error.textContent = String(e); }
  };
  const ageMs = Date.now() - alert.raised_ms;
  return h("div", { class: `alert ${done ? "done" : "open"} ${alert.kind?.kind ?? ""}`, dataset: { alert: String(alert.id) } }, [
    h("div", { class: "what" }, [h("strong", {}, [alertWords(alert)]), " ", h("span", {}, [alertPlace(alert)])]),
    h("div", { class: "detail" }, [alertDetail(alert)]),
    h("div", { class: "when" }, [
      `${clock(alert.raised_ms)} · `,
      alert.acknowledged ? `${t("acknowledgedBy")}: ${alert.acknowledged.by} ${clock(alert.acknowledged.at_ms)} — ${alert.acknowledged.reason}`
        : alert.resolved_ms ? `${t("resolved")} ${clock(alert.resolved_ms)}` : `${t("unacknowledged")} · ${ago(ageMs)}`,
    ]),
    !done && oneTap ? h("button", { type: "button", class: "ack big", onclick: () => ack(t("oneTapAck")) }, [t("oneTapAck")]) : null,
    !done && !oneTap ? h("form", { class: "ack", onsubmit: (/** @type {Event} */ e) => { e.preventDefault(); ack(/** @type {HTMLInputElement} */ (reason).value); } }, [reason, h("button", { type: "submit" }, [t("acknowledge")]), error]) : null,
    !done ? h("form", { class: "snooze", onsubmit: async (/** @type {Event} */ e) => {
      e.preventDefault();
      const data = new FormData(/** @type {HTMLFormElement} */ (e.target));
      const why = String(data.get("why") ?? "");
      if (!why.trim()) { error.textContent = t("reasonNeeded"); return; }
      try {
        const body = await api(`/api/alerts/${alert.id}/snooze`, { method: "POST", json: { minutes: Number(data.get("minutes")), reason: why } });
        snoozed.set(alert.id, body.snoozed_until_ms);
        alertDrafts.delete(`${alert.id}|why`);
        renderAlerts();
      } catch (err) { error.textContent = String(err); }
    } }, [
      h("select", { name: "minutes", "aria-label": t("snooze") }, [5, 10, 15, 30].map((m) => h("option", { value: m }, [`${m} ${t("minutes")}`]))),
      h("input", { name: "why", placeholder: `${t("snooze")}: ${t("reason")}` }),
      h("button", { type: "submit" }, [t("snooze")]),
    ]) : null,
    !done ? h("div", { class: "delivery" }, [deliveryWords(alert.id)]) : null,
    stream != null ? h("a", { href: `#/bed/${stream}?at=${alertSeconds(alert)}`, class: "open" }, [t("open")]) : null,
  ]);
}

/** Snoozes this viewer set: alert ID → until (ms). */
const snoozed = new Map();
/** Dispatch logs of open alerts: ID → { at, log }. */
const deliveryLogs = new Map();

/** Who was told and how, from the alert's dispatch log (fetched at most every 5 s). @param {number} id */
function deliveryWords(id) {
  const cached = deliveryLogs.get(id);
  if (!cached || Date.now() - cached.at > 5000) {
    deliveryLogs.set(id, { at: Date.now(), log: cached?.log ?? [] });
    api(`/api/alerts/${id}/log`).then((body) => { deliveryLogs.set(id, { at: Date.now(), log: body.log }); }).catch(() => {});
  }
  const log = deliveryLogs.get(id)?.log ?? [];
  const told = [...new Set(log.filter((e) => e.event === "notified").map((e) => e.person))];
  const ok = log.filter((e) => e.event === "attempt" && e.error == null).map((e) => e.channel?.kind);
  const failed = log.filter((e) => e.event === "attempt" && e.error != null).length;
  const escalations = log.filter((e) => e.event === "notified" && e.reason === "escalated").length;
  // A snooze set in this viewer, or any in the hub's log (set elsewhere, or before a reload).
  const until = Math.max(snoozed.get(id) ?? 0, ...log.filter((e) => e.event === "snoozed").map((e) => Number(e.until_ms) || 0));
  const parts = [];
  if (told.length) parts.push(`${t("told")}: ${told.join(", ")}`);
  if (ok.length) parts.push(`${t("delivered")}: ${[...new Set(ok)].join(", ")}`);
  if (failed) parts.push(`${t("failedDeliveries")}: ${failed}`);
  if (escalations) parts.push(`${t("escalated")} ×${escalations}`);
  if (until && until > Date.now()) parts.push(`${t("snoozedUntil")} ${clock(until)}`);
  if (log.some((e) => e.event === "nobody_on_call")) parts.push(t("nobodyOnCall"));
  return parts.join(" · ");
}

/** Where on its stream an alert belongs, seconds from the stream's start. @param {any} alert */
function alertSeconds(alert) {
  if (alert.kind?.start_ds != null) return Math.round(alert.kind.start_ds / 10);
  if (typeof alert.facts?.from_min === "number") return alert.facts.from_min * 60;
  const m = /([0-9]+)–([0-9]+) min/.exec(alert.detail ?? "");
  return m ? Number(m[1]) * 60 : "";
}

// ───────────────────────────── the chart ─────────────────────────────

const SETTINGS_KEY = "mimamori.chart";

function chartSettings() {
  const saved = JSON.parse(localStorage.getItem(SETTINGS_KEY) ?? "{}");
  return { cmPerMin: 3, pxPerCm: 96 / 2.54, low: 50, high: 210, twinOffset: true, ...saved };
}

/** @param {number} id @param {number|null} atSeconds */
async function renderChart(id, atSeconds) {
  if (!state.beds.has(id)) {
    // Not on the wall: a bed whose monitoring ended long ago (an alert's link, a bookmark).
    const found = /** @type {WallBed[]} */ (await api(`/api/wall?also=${id}`).catch(() => [])).find((b) => b.id === id);
    if (found) state.beds.set(id, { info: found, store: new SampleStore(), sweep: null, card: null, lastFrameAt: 0, polledAt: performance.now(), lastValues: [0, 0, 0, 0, 0], lastQuality: [0, 0, 0, 0, 0], lossSince: null, dirty: true, findings: [], underWays: new Map(), levels: new Map() });
  }
  const bed = state.beds.get(id);
  if (!bed) { location.hash = "#/wall"; return; }
  const settings = chartSettings();
  const canvas = /** @type {HTMLCanvasElement} */ (h("canvas", { class: "chart", id: "chart" }));
  const tip = h("div", { class: "tip", hidden: true });
  const chart = state.chart = {
    id, bed, canvas, tip, settings, store: new SampleStore(), findings: /** @type {any[]} */ ([]),
    live: atSeconds == null, startSeq: 0, dirty: true, hits: /** @type {any[]} */ ([]), loading: false, patient: null,
    marks: /** @type {any[]} */ ([]),
  };
  const select = (/** @type {string} */ key, /** @type {any[]} */ options, /** @type {(v: string) => any} */ parse) =>
    h("select", { "aria-label": key, onchange: (/** @type {any} */ e) => { Object.assign(settings, parse(e.target.value)); localStorage.setItem(SETTINGS_KEY, JSON.stringify(settings)); chart.dirty = true; } },
      options.map(([value, label, selected]) => h("option", { value, selected }, [label])));
  const header = h("div", { class: "chart-head" }, [
    h("a", { href: "#/wall" }, [`◀ ${t("back")}`]),
    h("h2", {}, [`${bed.info.facility} · ${bed.info.bed}`]),
    h("span", { class: "patient" }, [bed.info.patient ? `${bed.info.patient.name} · ${gestation(bed.info.patient)}` : t("noPatient")]),
    h("span", { class: "underway", id: "chart-underway", role: "status" }),
    bed.info.ended_ms ? h("span", { class: "ended" }, [tf("monitoringEndedAt", { time: clock(Number(bed.info.ended_ms)) })]) : null,
    h("label", {}, [t("paperSpeed"), select("speed", [1, 2, 3].map((v) => [v, `${v} cm/min`, settings.cmPerMin === v]), (v) => ({ cmPerMin: Number(v) }))]),
    h("label", {}, [t("fhrScale"), select("scale", [["50-210", "50–210", settings.low === 50], ["30-240", "30–240", settings.low === 30]], (v) => { const [low, high] = v.split("-").map(Number); return { low, high }; })]),
    h("label", {}, [t("pxPerCm"), h("input", { type: "number", step: "0.1", min: "10", max: "200", value: settings.pxPerCm.toFixed(1), onchange: (/** @type {any} */ e) => { settings.pxPerCm = Number(e.target.value) || 37.8; localStorage.setItem(SETTINGS_KEY, JSON.stringify(settings)); chart.dirty = true; } })]),
    h("label", {}, [h("input", { type: "checkbox", checked: settings.twinOffset, onchange: (/** @type {any} */ e) => { settings.twinOffset = e.target.checked; localStorage.setItem(SETTINGS_KEY, JSON.stringify(settings)); chart.dirty = true; } }), t("twinOffset")]),
    h("button", { type: "button", onclick: () => shift(-0.8) }, [`◀ ${t("earlier")}`]),
    h("button", { type: "button", onclick: () => shift(0.8) }, [`${t("later")} ▶`]),
    h("button", { type: "button", class: "live", onclick: () => { chart.live = true; chart.dirty = true; } }, [t("live")]),
    h("button", { type: "button", onclick: printChart }, [t("print")]),
  ]);
  const events = h("div", { class: "events", id: "event-list" });
  const patientPanel = h("div", { class: "patient-panel", id: "patient-panel" });
  // The bedside's context and a bridge clock off the hub's, on a line of their own that is
  // always there: filled in later, it does not move the chart under the pointer.
  const context = h("div", { class: "chart-context" }, [
    h("span", { class: "labour", id: "chart-labour" }),
    h("span", { class: "clock-off", id: "chart-clock" }),
    h("span", { class: "as-of", id: "chart-asof" }),
  ]);
  app.replaceChildren(topBar(), h("main", { class: "chart-view" }, [
    header,
    context,
    h("div", { class: "chart-body" }, [h("div", { class: "chart-wrap" }, [canvas, tip]), h("aside", { class: "side" }, [events, patientPanel, h("div", { class: "alerts", id: "alert-panel" }), bed.info.ended_ms ? null : endMonitoringForm(id)])]),
  ]));
  canvas.addEventListener("mousemove", (e) => hover(e));
  canvas.addEventListener("mouseleave", () => { tip.hidden = true; });
  canvas.addEventListener("wheel", (e) => { e.preventDefault(); shift(e.deltaY > 0 ? 0.2 : -0.2); }, { passive: false });
  state.wanted = new Set([id]);
  syncSubscriptions();
  renderAlerts();
  // Live samples arrive through the wall's store; history comes from the hub.
  chart.store = bed.store;
  const body = await api(`/api/streams/${id}/findings?limit=10000`);
  if (state.chart !== chart) return;
  // Findings told while the history was on its way are kept (the history may predate them).
  const told = chart.findings.filter((f) => !body.findings.some((/** @type {any} */ g) => g.kind === f.kind && g.start_s === f.start_s && g.channel === f.channel && g.fetal_channel === f.fetal_channel));
  chart.findings = settled([...body.findings, ...told]);
  if (atSeconds != null) chart.startSeq = Math.max(0, Math.round((atSeconds - 60) * HZ));
  renderEventList();
  renderPatient();
  chart.dirty = true;
}

/**
 * Findings as the chart draws them: a twins' cross-channel coincidence told while under way
 * gives way to its finding once it is over, and one whose end was never told (the hub
 * restarted meanwhile) lasts until the next one begins, not to the live edge.
 * @param {any[]} findings
 */
function settled(findings) {
  const cross = findings.filter((f) => f.kind === "cross_channel" || f.kind === "cross_channel_under_way");
  if (!cross.length) return findings;
  // The analysis's and the monitor's own (`source`) are told apart.
  const key = (/** @type {any} */ f) => `${f.source ?? ""}@${f.start_s}`;
  const over = new Set(cross.filter((f) => f.kind === "cross_channel").map(key));
  return findings.filter((f) => !(f.kind === "cross_channel_under_way" && over.has(key(f)))).map((f) => {
    if (f.kind !== "cross_channel_under_way") return f;
    const next = cross.filter((g) => g.source === f.source && g.start_s > f.start_s).map((g) => g.start_s);
    return next.length ? { ...f, until_s: Math.min(...next) } : f;
  });
}

/** The span on screen, samples. */
function spanSeq() {
  const c = state.chart;
  return Math.ceil((c.canvas.width / ((c.settings.cmPerMin * c.settings.pxPerCm) / 60)) * HZ);
}

/** @param {number} fraction of the visible span (negative: earlier) */
function shift(fraction) {
  const c = state.chart;
  if (!c) return;
  c.live = false;
  c.startSeq = Math.max(0, Math.round(c.startSeq + fraction * spanSeq()));
  c.dirty = true;
}

/** Loads the history of the visible span if it is not held. */
async function ensureHistory() {
  const c = state.chart;
  const from = c.startSeq, until = c.startSeq + spanSeq();
  const end = c.store.end;
  const want = Math.min(until, end || until);
  if (c.loading || c.store.holds(from, Math.max(from, want))) return;
  c.loading = true;
  try {
    const blocks = await api(`/api/streams/${c.id}/samples?from=${from}&until=${until}`);
    for (const b of blocks) b.values.forEach((/** @type {number[]} */ v, /** @type {number} */ i) => c.store.put(b.first_seq + i, v));
    c.dirty = true;
  } finally {
    c.loading = false;
  }
}

function drawChartNow() {
  const c = state.chart;
  const wrap = /** @type {HTMLElement} */ (c.canvas.parentElement);
  const width = wrap.clientWidth, height = Math.max(420, Math.min(640, window.innerHeight - 160));
  if (c.canvas.width !== width || c.canvas.height !== height) { c.canvas.width = width; c.canvas.height = height; }
  if (c.live) c.startSeq = Math.max(0, c.store.end - Math.round(spanSeq() * 0.9));
  const { hits } = drawChart(c.canvas, c.store, { ...c.settings, startSeq: c.startSeq, findings: c.findings, t, height });
  c.hits = hits;
  drawMarks(c, height);
  c.canvas.dataset.findings = String(c.findings.length);
  c.canvas.dataset.start = String(c.startSeq);
  ensureHistory();
}

/**
 * The centre's advice and the facility's notes as flags on the time axis, placed by their time
 * against the episode's start on the stream's clock.
 * @param {any} c @param {number} height
 */
function drawMarks(c, height) {
  const ctx = c.canvas.getContext("2d");
  const start = c.bed.info.episode_start_utc_ms;
  if (!ctx || !start || !c.marks) return;
  const pxPerSecond = (c.settings.cmPerMin * c.settings.pxPerCm) / 60;
  for (const mark of c.marks) {
    const seconds = (mark.at_ms - start) / 1000;
    const x = (seconds - c.startSeq / HZ) * pxPerSecond;
    if (x < 0 || x > c.canvas.width) continue;
    const y = 22 + height * 0.6 + 2;
    ctx.fillStyle = mark.kind === "advice" ? "#2f6fd0" : mark.kind === "observation" ? "#1f8a4c" : "#6b7280";
    ctx.beginPath();
    ctx.moveTo(x, y);
    ctx.lineTo(x + 7, y + 5);
    ctx.lineTo(x, y + 10);
    ctx.fill();
    c.hits.push({ x0: x - 2, x1: x + 8, y0: y, y1: y + 11, finding: { kind: mark.kind, entry: mark, start_s: seconds, end_s: seconds } });
  }
}

/** @param {MouseEvent} e */
function hover(e) {
  const c = state.chart;
  const rect = c.canvas.getBoundingClientRect();
  const x = e.clientX - rect.left, y = e.clientY - rect.top;
  // The narrowest band under the pointer: a thin one (the MHR's false signal, twins'
  // channels coinciding) drawn over a deceleration's shading is still reachable.
  const hit = c.hits.filter((/** @type {any} */ h) => x >= h.x0 && x <= h.x1 && y >= h.y0 && y <= h.y1)
    .sort((/** @type {any} */ a, /** @type {any} */ b) => (a.y1 - a.y0) - (b.y1 - b.y0))[0];
  if (!hit) { c.tip.hidden = true; return; }
  c.tip.hidden = false;
  c.tip.style.left = `${x + 12}px`;
  c.tip.style.top = `${y + 12}px`;
  c.tip.replaceChildren(...evidence(hit.finding));
}

/**
 * Why a deceleration has its type: the rule that decided, with its measured value and limit
 * ("" for findings stored before the hub sent the rule).
 * @param {any} f
 */
function typingReason(f) {
  if (!f.rule) return "";
  const lag = f.lag_to_contraction_s, limit = f.rule_limit_s;
  // Whole seconds, or tenths where whole ones would read as the limit itself.
  const near = (/** @type {number} */ v) => (Math.round(v) === limit && v !== limit ? v.toFixed(1) : String(Math.round(v)));
  return tf(`why_${f.rule}`, {
    duration: Math.round(f.duration_s),
    onset: near(f.onset_to_nadir_s),
    limit: Math.round(limit),
    lag: lag == null ? "–" : (lag > 0 ? "+" : "") + near(lag),
    lead: lag == null ? "–" : near(-lag),
  });
}

/** Whole seconds with their sign ("+42", "-8", "0"). @param {number} seconds */
function signedSeconds(seconds) {
  const whole = Math.round(seconds);
  return `${whole > 0 ? "+" : ""}${whole}`;
}

/**
 * Whether the toco could show a contraction in less than half of a level's window (lost, or
 * flat: off the abdomen), so its count of contractions says nothing, as the analysis judged it
 * (`Evidence::toco_not_recording`). False for levels stored without that figure.
 * @param {any} e a level's evidence
 */
function tocoUnreadable(e) {
  return e.toco_not_recording === true;
}

/**
 * Where a band the JSOG table was given came from, when not measured in the level's own window
 * (`Evidence::baseline_source`, `variability_source`: `carried` from the last window that
 * measured it, or `assumed` normal before any did); empty when measured, or for levels stored
 * without that figure.
 * @param {string | undefined} source
 */
function bandSource(source) {
  return source === "carried" || source === "assumed" ? ` (${t("source_" + source)})` : "";
}

/** Words for a finding; for a level, the findings of its window that produced it. @param {any} f */
function evidence(f) {
  const span = `${(f.start_s / 60).toFixed(1)}–${(f.end_s / 60).toFixed(1)} ${t("minutes")}`;
  if (f.kind === "classification") {
    const inside = state.chart.findings.filter((/** @type {any} */ g) => g !== f && g.start_s < f.end_s && g.end_s > f.start_s && g.fetal_channel === f.fetal_channel);
    const baseline = inside.find((/** @type {any} */ g) => g.kind === "baseline");
    const variability = inside.find((/** @type {any} */ g) => g.kind === "variability");
    const decels = inside.filter((/** @type {any} */ g) => g.kind === "deceleration");
    const accels = inside.filter((/** @type {any} */ g) => g.kind === "acceleration");
    const e = f.evidence;
    // The JSOG table's inputs as the analysis chose them (levels stored before the hub sent
    // them have none).
    const inputs = e ? [
      h("div", { class: "table-inputs" }, [`${t("tableInputs")}: ${t("baseline")} ${t("col_" + e.baseline)}${bandSource(e.baseline_source)} · ${t("variability")} ${t("var_" + e.variability)}${bandSource(e.variability_source)} · ${t("deceleration")} ${t("row_" + e.deceleration)}${e.sinusoidal ? " · " + t("sinusoidal") : ""}`]),
      h("div", { class: lowSignal(f) ? "signal low" : "signal" }, [`${tf("signalShare", { percent: Math.round(e.signal_percent) })} · ${tf("contractionsIn", { n: e.contractions })}${tocoUnreadable(e) ? " · " + t("tocoUnreadable") : ""}${e.tachysystole ? " · " + t("tachysystole") : ""}${lowSignal(f) ? " · " + t("lowSignal") : ""}`]),
    ] : [];
    return [
      h("strong", {}, [`${fetusLabel(f)}${t("level")} ${f.jsog_level}: ${t("level" + f.jsog_level)}`]),
      h("div", {}, [span]),
      ...inputs,
      h("div", {}, [`${t("evidence")}: ${t("baseline")} ${baseline?.bpm ?? "–"} bpm · ${t("variability")} ${variability?.class ? t(variability.class) : "–"} ${variability?.amplitude_bpm ?? ""}`]),
      h("div", {}, [`${t("deceleration")}: ${decels.map((/** @type {any} */ d) => `${t(d.type)} ${t(d.severity)}`).join(", ") || "–"} · ${t("acceleration")} ${accels.length}`]),
      h("div", {}, [`NICHD ${f.nichd_category} · FIGO ${t(`figo_${f.figo}`)} · ${t("tableVersion")} ${f.table_version}`]),
    ];
  }
  if (f.kind === "deceleration") {
    const lines = [h("strong", {}, [`${fetusLabel(f)}${t(f.type)} (${t(f.severity)}${f.recurrent ? ", " + t("recurrent") : ""})`]), h("div", {}, [`${span} · −${f.depth_bpm} bpm`])];
    if (f.rule) {
      const measured = tf("measured", { nadir: f.nadir_bpm, duration: Math.round(f.duration_s), onset: Math.round(f.onset_to_nadir_s) });
      const lag = f.lag_to_contraction_s == null ? "" : ` · ${tf("lagToAcme", { lag: signedSeconds(f.lag_to_contraction_s) })}`;
      lines.push(h("div", {}, [measured + lag]), h("div", { class: "why" }, [`${t("evidence")}: ${typingReason(f)}`]));
    }
    return lines;
  }
  if (f.kind === "acceleration") {
    // Accelerations the hub stored before it sent their duration have none.
    const duration = f.duration_s == null ? "" : ` · ${tf("accelerationDuration", { seconds: Math.round(f.duration_s) })}`;
    return [h("strong", {}, [fetusLabel(f) + t(f.prolonged ? "prolonged_acceleration" : "acceleration")]), h("div", {}, [`${span} · +${f.amplitude_bpm} bpm${duration}`])];
  }
  if (f.kind === "contraction") return [h("strong", {}, [t("contraction")]), h("div", {}, [`${span} · ${f.amplitude}`])];
  if (f.kind === "cross_channel" || f.kind === "cross_channel_under_way") {
    const when = f.kind === "cross_channel" ? span : `${(f.start_s / 60).toFixed(1)} ${t("minutes")} – (${t("underWay")})`;
    return [h("strong", {}, [crossChannelLabel(f, t)]), h("div", {}, [when]), h("div", { class: "why" }, [t(f.source === "monitor" ? "monitorCoincidenceWhy" : "crossChannelWhy")])];
  }
  if (f.kind === "false_signal") return [h("strong", {}, [t("false_signal")]), h("div", {}, [`${f.channel} · ${t(f.reason)} · ${span}`])];
  if (f.kind === "advice" || f.kind === "note" || f.kind === "observation") return [h("strong", {}, [f.kind === "advice" ? t("advice") : f.kind === "observation" ? t("labour") : t("notes")]), h("div", {}, [`${clock(f.entry.at_ms)} ${f.entry.by}: ${f.entry.action ? t(f.entry.action) + " — " : ""}${f.entry.text}`])];
  return [h("div", {}, [span])];
}

function renderEventList() {
  const el = document.getElementById("event-list");
  const c = state.chart;
  if (!el || !c) return;
  const events = c.findings.filter((/** @type {any} */ f) => ["deceleration", "acceleration", "classification", "false_signal", "cross_channel", "cross_channel_under_way"].includes(f.kind))
    .slice(-200).reverse();
  el.replaceChildren(h("h3", {}, [t("events")]), h("ul", {}, events.map((/** @type {any} */ f) => h("li", { class: `event ${f.kind} ${f.type ?? ""}`, dataset: { kind: f.kind, type: f.type ?? "" } }, [
    h("button", { type: "button", onclick: () => { c.live = false; c.startSeq = Math.max(0, Math.round((f.start_s - 60) * HZ)); c.dirty = true; } }, [
      `${(f.start_s / 60).toFixed(1)} ${t("minutes")} ${fetusLabel(f)}`,
      f.kind === "deceleration" ? `${t(f.type)} · ${t(f.severity)}` : f.kind === "classification" ? `${LEVELS[/** @type {1|2|3|4|5} */ (f.jsog_level)]?.shape ?? ""} ${t("level")} ${f.jsog_level}` : f.kind === "false_signal" ? `${t("false_signal")}${f.channel === "mhr" ? " (MHR)" : ""} · ${t(f.reason)}` : f.kind.startsWith("cross_channel") ? crossChannelLabel(f, t) : t(f.kind),
    ]),
    ...(f.kind === "deceleration" && f.rule ? [h("div", { class: "why" }, [typingReason(f)])] : []),
  ]))));
}

async function renderPatient() {
  const el = document.getElementById("patient-panel");
  const c = state.chart;
  if (!el || !c) return;
  const p = c.bed.info.patient;
  if (!p) { el.replaceChildren(h("h3", {}, [t("patient")]), h("p", {}, [t("noPatient")])); return; }
  const body = await api(`/api/patients/${p.id}`);
  const episode = body.episodes.find((/** @type {any} */ e) => e.id === c.bed.info.episode_id) ?? body.episodes.at(-1);
  c.marks = [
    ...(episode?.advice ?? []).map((/** @type {any} */ e) => ({ ...e, kind: "advice" })),
    ...(episode?.notes ?? []).map((/** @type {any} */ e) => ({ ...e, kind: "note" })),
    ...(episode?.observations ?? []).filter((/** @type {any} */ e) => !e.retracted).map((/** @type {any} */ e) => ({ ...e, kind: "observation", text: observationWords(e) })),
  ];
  c.dirty = true;
  const log = (/** @type {any[]} */ entries) => h("ul", {}, (entries ?? []).map((e) => h("li", {}, [`${clock(e.at_ms)} ${e.by}: ${e.action ? t(e.action) + " — " : ""}${e.text}${e.confirmed_with ? ` (${tf("confirmedWithShort", { who: e.confirmed_with })})` : ""}`])));
  // Advice that escalates (an expedited delivery, a transfer) names the bedside carer the
  // patient's identity and situation were confirmed with; the hub refuses it otherwise.
  const confirmedWith = /** @type {HTMLInputElement} */ (h("input", { name: "confirmed_with", class: "confirmed-with", maxlength: "100", placeholder: t("confirmedWith"), "aria-label": t("confirmedWith") }));
  const adviceError = h("span", { class: "error" });
  const actionSelect = /** @type {HTMLSelectElement} */ (h("select", { name: "action", onchange: () => { confirmedWith.required = ESCALATIONS.includes(actionSelect.value); } },
    ["observe", "conservative_measures", "prepare_expedited_delivery", "perform_expedited_delivery", "maternal_transport"].map((a) => h("option", { value: a }, [t(a)]))));
  const adviceForm = h("form", { class: "advice", onsubmit: async (/** @type {Event} */ e) => {
    e.preventDefault();
    const data = new FormData(/** @type {HTMLFormElement} */ (e.target));
    try {
      await api(`/api/episodes/${episode.id}/advice`, { method: "POST", json: { action: data.get("action"), text: data.get("text"), confirmed_with: String(data.get("confirmed_with") ?? "").trim() || null } });
      renderPatient();
    } catch (err) { adviceError.textContent = String(err); }
  } }, [
    actionSelect,
    h("input", { name: "text", placeholder: t("addAdvice") }),
    h("button", { type: "submit" }, [t("save")]),
    confirmedWith,
    adviceError,
  ]);
  const number = (/** @type {string} */ name, /** @type {string} */ label, /** @type {number} */ min, /** @type {number} */ max, /** @type {number} */ step, /** @type {string} */ unit) =>
    h("label", {}, [`${label} (${unit})`, h("input", { name, type: "number", min: String(min), max: String(max), step: String(step), inputmode: "decimal" })]);
  const choice = (/** @type {string} */ name, /** @type {string} */ label, /** @type {[string, string][]} */ options) =>
    h("label", {}, [label, h("select", { name }, [h("option", { value: "" }, ["–"]), ...options.map(([value, words]) => h("option", { value }, [words]))])]);
  const observationError = h("span", { class: "error" });
  const observationForm = h("form", { class: "observation", onsubmit: async (/** @type {Event} */ e) => {
    e.preventDefault();
    const data = new FormData(/** @type {HTMLFormElement} */ (e.target));
    /** @type {Record<string, any>} */
    const observed = {};
    for (const key of ["dilation_cm", "oxytocin_mu_min", "temperature_c"]) {
      const v = String(data.get(key) ?? "").trim();
      if (v !== "") observed[key] = Number(v);
    }
    const epidural = String(data.get("epidural") ?? "");
    if (epidural) observed.epidural = epidural === "yes";
    for (const key of ["membranes", "liquor"]) {
      const v = String(data.get(key) ?? "");
      if (v) observed[key] = v;
    }
    const observedAt = observedTime(String(data.get("observed_at") ?? ""));
    if (observedAt != null) observed.observed_ms = observedAt;
    try {
      await api(`/api/episodes/${episode.id}/observations`, { method: "POST", json: observed });
      // The context line reads the wall's newest: fetched now, not at the next poll.
      await pollWall().catch(() => {});
      updateChartContext();
      renderPatient();
    } catch (err) { observationError.textContent = String(err); }
  } }, [
    number("dilation_cm", t("dilation"), 0, 10, 0.5, "cm"),
    number("oxytocin_mu_min", t("oxytocin"), 0, 40, 0.5, "mU/min"),
    choice("epidural", t("epidural"), [["yes", t("yes")], ["no", t("no")]]),
    number("temperature_c", t("temperature"), 34, 43, 0.1, "°C"),
    choice("membranes", t("membranes"), [["intact", t("intact")], ["ruptured", t("ruptured")]]),
    choice("liquor", t("liquor"), [["clear", t("clear")], ["meconium", t("meconium")], ["bloody", t("bloody")]]),
    h("label", {}, [t("observedAt"), h("input", { name: "observed_at", type: "time" })]),
    h("button", { type: "submit" }, [t("recordObservation")]),
    observationError,
  ]);
  const observations = (episode?.observations ?? []).slice().reverse();
  const noteForm = h("form", { class: "note", onsubmit: async (/** @type {Event} */ e) => {
    e.preventDefault();
    const data = new FormData(/** @type {HTMLFormElement} */ (e.target));
    await api(`/api/episodes/${episode.id}/notes`, { method: "POST", json: { text: data.get("text") } }).catch((err) => alert(String(err)));
    renderPatient();
  } }, [h("input", { name: "text", placeholder: t("addNote"), required: true }), h("button", { type: "submit" }, [t("save")])]);
  const d = body.patient.details ?? body.patient;
  el.replaceChildren(
    h("h3", {}, [`${t("patient")}: ${d.name} (${d.patient_ref})`]),
    h("p", {}, [`${gestation(d)} · ${t("parity")} ${d.parity ?? "–"}`]),
    h("h4", {}, [t("history")]), h("p", { class: "history" }, [d.notes || "–"]),
    h("h4", {}, [t("advice")]), log(episode?.advice), episode ? adviceForm : null,
    h("h4", {}, [t("labour")]),
    h("ul", { class: "observations" }, observations.length ? observations.map((/** @type {any} */ o) => observationLine(episode.id, o)) : [h("li", { class: "quiet" }, [t("noObservations")])]),
    episode ? observationForm : null,
    h("h4", {}, [t("notes")]), log(episode?.notes), episode ? noteForm : null,
    h("h4", {}, [t("attachments")]),
    h("div", { class: "attachments" }, (body.attachments ?? []).map((/** @type {any} */ a) => a.content_type?.startsWith("image/")
      ? h("a", { href: `/api/attachments/${a.id}`, target: "_blank" }, [h("img", { src: `/api/attachments/${a.id}`, alt: a.name })])
      : h("a", { href: `/api/attachments/${a.id}` }, [a.name]))),
  );
}

/** Prints the visible span at true scale: the chart as an image sized in centimetres. */
function printChart() {
  const c = state.chart;
  const cm = c.canvas.width / c.settings.pxPerCm;
  const image = h("img", { src: c.canvas.toDataURL("image/png"), style: `width:${cm.toFixed(2)}cm` });
  // The findings of the printed span, with what each rests on, for the record.
  const from = c.startSeq / HZ, until = (c.startSeq + spanSeq()) / HZ;
  const printed = c.findings
    .filter((/** @type {any} */ f) => ["classification", "deceleration", "acceleration", "false_signal"].includes(f.kind) && f.start_s < until && f.end_s > from)
    .sort((/** @type {any} */ a, /** @type {any} */ b) => a.start_s - b.start_s);
  const sheet = h("div", { class: "print-sheet" }, [
    h("p", {}, [`${c.bed.info.facility} · ${c.bed.info.bed} · ${c.bed.info.patient?.name ?? ""} · ${c.settings.cmPerMin} cm/min · ${new Date().toLocaleString()}`]),
    ...labourItems(c.bed.info.labour).length ? [h("p", {}, [`${t("labour")}: ${labourItems(c.bed.info.labour).map((i) => `${i.text} (${clock(i.at_ms)})`).join(" · ")}`])] : [],
    image,
    printed.length ? h("table", { class: "print-findings" }, [
      h("tbody", {}, printed.map((/** @type {any} */ f) => {
        // The words of the chart's hover box: a title, then the span and what it rests on.
        const [title, ...lines] = evidence(f).map((el) => el.textContent ?? "");
        return h("tr", { dataset: { kind: f.kind } }, [h("td", {}, [title]), h("td", {}, [lines.join(" · ")])]);
      })),
    ]) : null,
  ]);
  document.body.append(sheet);
  const done = () => sheet.remove();
  window.addEventListener("afterprint", done, { once: true });
  image.addEventListener("load", () => window.print(), { once: true });
}

// ───────────────────────────── on call ─────────────────────────────

function renderOncall() {
  const beds = sortedBeds();
  const open = [...state.alerts.values()].filter((a) => !a.acknowledged && !a.resolved_ms).sort((a, b) => b.raised_ms - a.raised_ms);
  const canNotify = typeof Notification !== "undefined";
  app.replaceChildren(topBar(), h("main", { class: "oncall" }, [
    h("h2", {}, [`${t("alerts")} (${open.length})`]),
    ...open.map((a) => alertItem(a, true)),
    open.length ? null : h("p", { class: "quiet" }, [t("noAlerts")]),
    canNotify ? h("button", { type: "button", class: "notify", onclick: async () => { await Notification.requestPermission(); renderOncall(); } },
      [Notification.permission === "granted" ? t("notificationsOn") : t("notifications")]) : null,
    "serviceWorker" in navigator && "PushManager" in window ? h("button", { type: "button", class: "notify", onclick: () => subscribePush() }, [t("pushSubscribe")]) : null,
    h("p", { class: "quiet", id: "push-state" }),
    h("h2", {}, [t("myBeds")]),
    h("ul", { class: "mini-beds" }, beds.map((b) => {
      const { state: s, text } = bedState(b);
      const level = levelOf(b);
      const info = LEVELS[/** @type {1|2|3|4|5} */ (level)];
      return h("li", { dataset: { state: s } }, [
        h("a", { href: `#/bed/${b.info.id}` }, [
          h("span", { class: "level", style: `background:${info?.colour ?? "#999"}` }, [info ? `${info.shape} ${level}` : "–"]),
          ` ${b.info.facility} · ${b.info.bed} `, h("small", {}, [text]),
        ]),
      ]);
    })),
  ]));
  state.wanted = new Set();
  syncSubscriptions();
}

/** Subscribes this browser to Web Push alerts for the signed-in user (the hub's VAPID key). */
async function subscribePush() {
  const status = document.getElementById("push-state");
  try {
    // The worker words notifications in this user's language (it cannot read the page's).
    const registration = await navigator.serviceWorker.register(`/sw.js?lang=${language()}`, { scope: "/" });
    const { public_key } = await api("/api/push/key");
    const raw = Uint8Array.from(atob(public_key.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
    const subscription = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: raw });
    await api("/api/push/subscribe", { method: "POST", json: subscription.toJSON() });
    if (status) status.textContent = t("pushOn");
  } catch (e) {
    if (status) status.textContent = `${t("pushFailed")}: ${e}`;
  }
}

// ───────────────────────────── rosters (admins) ─────────────────────────────

async function renderRosters() {
  const body = await api("/api/oncall");
  const rosters = body.rosters ?? {};
  const facilities = [...new Set([...Object.keys(rosters), ...[...state.beds.values()].map((b) => b.info.facility), state.user?.facility ?? "centre"])].sort();
  const status = h("p", { class: "quiet" });
  const editor = (/** @type {string} */ facility) => {
    const area = h("textarea", { rows: 8, cols: 60, "aria-label": facility });
    /** @type {HTMLTextAreaElement} */ (area).value = JSON.stringify(rosters[facility] ?? { shifts: [{ start_minute: 510, end_minute: 1020, people: [] }] }, null, 2);
    return h("section", { class: "roster" }, [
      h("h3", {}, [facility]),
      area,
      h("button", { type: "button", onclick: async () => {
        try {
          await api(`/api/oncall/${encodeURIComponent(facility)}`, { method: "PUT", json: JSON.parse(/** @type {HTMLTextAreaElement} */ (area).value) });
          status.textContent = `${t("saved")}: ${facility}`;
        } catch (e) { status.textContent = String(e); }
      } }, [t("save")]),
    ]);
  };
  const people = h("textarea", { rows: 10, cols: 60, "aria-label": "people" });
  /** @type {HTMLTextAreaElement} */ (people).value = JSON.stringify(body.people ?? {}, null, 2);
  app.replaceChildren(topBar(), h("main", { class: "rosters" }, [
    h("h2", {}, [t("rosters")]),
    h("p", { class: "quiet" }, [t("rosterHelp")]),
    ...facilities.map(editor),
    h("h3", {}, [t("channels")]),
    people,
    h("button", { type: "button", onclick: async () => {
      try {
        for (const [name, channels] of Object.entries(JSON.parse(/** @type {HTMLTextAreaElement} */ (people).value))) {
          await api(`/api/people/${encodeURIComponent(name)}/channels`, { method: "PUT", json: channels });
        }
        status.textContent = t("saved");
      } catch (e) { status.textContent = String(e); }
    } }, [t("save")]),
    body.webhook_secret ? h("p", {}, [`${t("webhookSecret")}: `, h("code", {}, [body.webhook_secret])]) : null,
    status,
  ]));
  state.wanted = new Set();
  syncSubscriptions();
}

// ───────────────────────────── accounts (admins) ─────────────────────────────

/** The shortest password the hub takes (`accounts::MIN_PASSWORD_CHARS`), for the forms. */
const MIN_PASSWORD_CHARS = "8";

/** @param {number} ms */
function dateTime(ms) {
  return new Date(ms).toLocaleString(language() === "ja" ? "ja-JP" : "en-GB", { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" });
}

async function renderUsers() {
  const body = await api("/api/users");
  /** @type {any[]} */
  const users = body.users ?? [];
  const status = h("p", { class: "quiet", role: "status" });
  const passwordForm = h("section", { class: "set-password" });
  /**
   * Runs one change and shows the page again with its outcome.
   * @param {string} path
   * @param {any} [json]
   */
  const act = async (path, json) => {
    try {
      await api(path, { method: "POST", json: json ?? {} });
      await renderUsers();
      const shown = document.querySelector("main.users [role=status]");
      if (shown) shown.textContent = t("done");
    } catch (/** @type {any} */ failure) {
      status.textContent = String(failure?.message ?? failure);
    }
  };
  const path = (/** @type {string} */ name, /** @type {string} */ action) => `/api/users/${encodeURIComponent(name)}/${action}`;
  const askPassword = (/** @type {string} */ name) => {
    const input = h("input", { name: "new-password", type: "password", autocomplete: "new-password", minlength: MIN_PASSWORD_CHARS, required: true });
    passwordForm.replaceChildren(h("form", { onsubmit: async (/** @type {Event} */ e) => {
      e.preventDefault();
      await act(path(name, "password"), { password: /** @type {HTMLInputElement} */ (input).value });
    } }, [h("label", {}, [tf("setPasswordFor", { user: name }), input]), h("button", { type: "submit" }, [t("setPassword")])]));
    /** @type {HTMLInputElement} */ (input).focus();
  };
  const row = (/** @type {any} */ u) => {
    const locked = u.locked_until_ms != null;
    const stateText = u.disabled_ms != null ? tf("disabledSince", { when: dateTime(u.disabled_ms) })
      : locked ? tf("lockedUntil", { when: dateTime(u.locked_until_ms) }) : t("enabled");
    return h("tr", { dataset: { user: u.username }, class: u.disabled_ms != null ? "disabled" : "" }, [
      h("td", {}, [u.username]),
      h("td", {}, [t(`role_${u.role}`)]),
      h("td", {}, [u.facility]),
      h("td", { class: "state" }, [stateText]),
      h("td", {}, [t(u.second_factor ? "on" : "off")]),
      h("td", {}, [u.last_signin_ms != null ? dateTime(u.last_signin_ms) : t("never")]),
      h("td", { class: "actions" }, [
        u.disabled_ms != null
          ? h("button", { type: "button", class: "enable", onclick: () => act(path(u.username, "enable")) }, [t("enable")])
          : h("button", { type: "button", class: "disable", onclick: () => { if (confirm(tf("confirmDisable", { user: u.username }))) act(path(u.username, "disable")); } }, [t("disable")]),
        h("button", { type: "button", class: "password", onclick: () => askPassword(u.username) }, [t("newPassword")]),
        locked ? h("button", { type: "button", class: "unlock", onclick: () => act(path(u.username, "unlock")) }, [t("unlock")]) : null,
        u.second_factor ? h("button", { type: "button", class: "remove-second-factor", onclick: () => { if (confirm(tf("confirmRemoveSecondFactor", { user: u.username }))) act(path(u.username, "remove-second-factor")); } }, [t("removeSecondFactor")]) : null,
      ]),
    ]);
  };
  const roleSelect = h("select", { name: "role" }, ["midwife", "obstetrician", "facility_staff", "admin"].map((r) => h("option", { value: r }, [t(`role_${r}`)])));
  const addForm = h("form", { class: "add-user", onsubmit: async (/** @type {Event} */ e) => {
    e.preventDefault();
    const data = new FormData(/** @type {HTMLFormElement} */ (e.target));
    await act("/api/users", { username: data.get("username"), role: data.get("role"), facility: data.get("facility"), password: data.get("password") });
  } }, [
    h("label", {}, [t("username"), h("input", { name: "username", required: true, maxlength: "64", pattern: "[A-Za-z0-9._@\\-]+" })]),
    h("label", {}, [t("role"), roleSelect]),
    h("label", {}, [t("facility"), h("input", { name: "facility", required: true, value: state.user?.facility ?? "" })]),
    h("label", {}, [t("password"), h("input", { name: "password", type: "password", autocomplete: "new-password", minlength: MIN_PASSWORD_CHARS, required: true })]),
    h("button", { type: "submit" }, [t("add")]),
  ]);
  app.replaceChildren(topBar(), h("main", { class: "users" }, [
    h("h2", {}, [t("users")]),
    h("p", { class: "quiet" }, [t("usersHelp")]),
    h("table", { class: "users" }, [
      h("thead", {}, [h("tr", {}, [t("username"), t("role"), t("facility"), t("state"), t("secondFactor"), t("lastSignin"), ""].map((c) => h("th", {}, [c])))]),
      h("tbody", {}, users.map(row)),
    ]),
    passwordForm,
    status,
    h("h3", {}, [t("addUser")]),
    addForm,
  ]));
  state.wanted = new Set();
  syncSubscriptions();
}

// ───────────────────────────── the audit log (admins) ─────────────────────────────

/** How many audit entries a page of the viewer asks for. */
const AUDIT_PAGE = 200;

async function renderAudit() {
  const rows = h("tbody");
  const status = h("p", { class: "quiet", role: "status" });
  const chain = h("p", { class: "chain" });
  const filter = { actor: "", action: "" };
  /** @type {number | null} */
  let before = null;
  const older = h("button", { type: "button", class: "older", hidden: true, onclick: () => load(false) }, [t("auditOlder")]);
  /** Loads the newest page (`fresh`) or the one before what is shown. @param {boolean} fresh */
  const load = async (fresh) => {
    const query = new URLSearchParams({ limit: String(AUDIT_PAGE) });
    if (filter.actor) query.set("actor", filter.actor);
    if (filter.action) query.set("action", filter.action);
    if (!fresh && before != null) query.set("before", String(before));
    try {
      const body = await api(`/api/audit?${query}`);
      if (fresh) rows.replaceChildren();
      for (const e of body.entries) {
        rows.append(h("tr", { dataset: { id: String(e.id) } }, [
          h("td", {}, [dateTime(e.at_ms)]), h("td", {}, [e.actor]), h("td", { class: "action" }, [e.action]), h("td", {}, [e.target]),
        ]));
      }
      before = body.entries.at(-1)?.id ?? before;
      /** @type {HTMLButtonElement} */ (older).hidden = !body.more;
      // Said with the newest page only (the hub walks the whole chain for it).
      if (body.verified != null) {
        chain.textContent = t(body.verified ? "auditVerified" : "auditBroken");
        chain.className = `chain ${body.verified ? "ok" : "broken"}`;
      }
      status.textContent = "";
    } catch (/** @type {any} */ failure) {
      status.textContent = String(failure?.message ?? failure);
    }
  };
  const form = h("form", { class: "audit-filter", onsubmit: async (/** @type {Event} */ e) => {
    e.preventDefault();
    const data = new FormData(/** @type {HTMLFormElement} */ (e.target));
    filter.actor = String(data.get("actor") ?? "").trim();
    filter.action = String(data.get("action") ?? "").trim();
    before = null;
    await load(true);
  } }, [
    h("label", {}, [t("auditActor"), h("input", { name: "actor", placeholder: "admin, -, …" })]),
    h("label", {}, [t("auditAction"), h("input", { name: "action", placeholder: "login_failed, user_disabled, view_stream, …" })]),
    h("button", { type: "submit" }, [t("auditFilter")]),
  ]);
  app.replaceChildren(topBar(), h("main", { class: "audit" }, [
    h("h2", {}, [t("auditLog")]),
    h("p", { class: "quiet" }, [t("auditHelp")]),
    chain,
    form,
    h("table", { class: "audit" }, [
      h("thead", {}, [h("tr", {}, [t("auditWhen"), t("auditActor"), t("auditAction"), t("auditTarget")].map((c) => h("th", {}, [c])))]),
      rows,
    ]),
    older,
    status,
  ]));
  state.wanted = new Set();
  syncSubscriptions();
  await load(true);
}

// ───────────────────────────── the account: a second factor ─────────────────────────────

async function renderAccount() {
  const me = await api("/api/me");
  const status = h("p", { class: "quiet second-factor-status", role: "status" });
  const setup = h("section", { class: "second-factor-setup" });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password" });
  const start = async () => {
    try {
      const body = await api("/api/me/second-factor", { method: "POST", json: { password: /** @type {HTMLInputElement} */ (password).value } });
      /** @type {HTMLInputElement} */ (password).value = "";
      const code = h("input", { name: "code", inputmode: "numeric", autocomplete: "one-time-code", pattern: "[0-9 ]{6,7}", maxlength: "7", required: true });
      setup.replaceChildren(
        h("p", {}, [t("secondFactorScan")]),
        // The hub's own SVG, shown as an image (never put into the page as markup).
        h("img", { class: "qr", alt: t("secondFactorQr"), src: `data:image/svg+xml;base64,${btoa(body.qr_svg)}` }),
        h("p", {}, [`${t("secondFactorSecret")}: `, h("code", { class: "secret" }, [body.secret])]),
        h("form", { class: "confirm", onsubmit: async (/** @type {Event} */ e) => {
          e.preventDefault();
          try {
            await api("/api/me/second-factor/confirm", { method: "POST", json: { code: /** @type {HTMLInputElement} */ (code).value } });
            setup.replaceChildren();
            status.textContent = t("secondFactorDone");
            on.textContent = t("secondFactorOn");
          } catch (failure) {
            status.textContent = t("secondFactorWrong");
          }
        } }, [h("label", {}, [t("authCode"), code]), h("button", { type: "submit" }, [t("secondFactorConfirm")])]),
      );
      /** @type {HTMLInputElement} */ (code).focus();
    } catch (/** @type {any} */ failure) {
      status.textContent = failure?.body?.wrong_password ? t("secondFactorWrongPassword") : String(failure);
    }
  };
  const on = h("p", { class: "second-factor-state" }, [t(me.second_factor ? "secondFactorOn" : "secondFactorOff")]);
  app.replaceChildren(topBar(), h("main", { class: "account" }, [
    h("h2", {}, [t("account")]),
    h("p", {}, [`${me.user.username} · ${t(`role_${me.user.role}`)} · ${me.user.facility}`]),
    h("h3", {}, [t("secondFactor")]),
    on,
    h("p", { class: "quiet" }, [t("secondFactorHelp")]),
    h("label", { class: "confirm-password" }, [t("password"), password]),
    h("button", { type: "button", class: "start-second-factor", onclick: start }, [t(me.second_factor ? "secondFactorRenew" : "secondFactorSetUp")]),
    setup,
    status,
    h("h3", {}, [t("changePassword")]),
    passwordChange(),
  ]));
  state.wanted = new Set();
  syncSubscriptions();
}

/** The form that changes the signed-in user's own password. */
function passwordChange() {
  const said = h("p", { class: "quiet", role: "status" });
  const field = (/** @type {string} */ name, /** @type {string} */ label, /** @type {string} */ autocomplete) =>
    h("label", {}, [t(label), h("input", { name, type: "password", autocomplete, required: true, ...(name === "current" ? {} : { minlength: MIN_PASSWORD_CHARS }) })]);
  return h("form", { class: "change-password", onsubmit: async (/** @type {Event} */ e) => {
    e.preventDefault();
    const form = /** @type {HTMLFormElement} */ (e.target);
    const data = new FormData(form);
    if (data.get("new") !== data.get("again")) { said.textContent = t("passwordsDiffer"); return; }
    try {
      await api("/api/me/password", { method: "POST", json: { current: data.get("current"), new: data.get("new") } });
      form.reset();
      said.textContent = t("passwordChanged");
    } catch (/** @type {any} */ failure) {
      said.textContent = failure?.body?.wrong_password ? t("wrongPassword") : String(failure?.message ?? failure);
    }
  } }, [
    h("p", { class: "quiet" }, [t("passwordHelp")]),
    field("current", "currentPassword", "current-password"),
    field("new", "newPassword", "new-password"),
    field("again", "newPasswordAgain", "new-password"),
    h("button", { type: "submit" }, [t("changePassword")]),
    said,
  ]);
}

// ───────────────────────────── the loop ─────────────────────────────

function route() {
  const hash = location.hash || "#/wall";
  const bed = /^#\/bed\/(\d+)(?:\?at=(\d+))?/.exec(hash);
  if (bed) return { view: "chart", id: Number(bed[1]), at: bed[2] ? Number(bed[2]) : null };
  if (hash.startsWith("#/oncall")) return { view: "oncall" };
  if (hash.startsWith("#/rosters")) return { view: "rosters" };
  if (hash.startsWith("#/account")) return { view: "account" };
  if (hash.startsWith("#/users")) return { view: "users" };
  if (hash.startsWith("#/audit")) return { view: "audit" };
  return { view: "wall" };
}

/** Counts renders: one that a later one overtook while it waited stops (two quick clicks end on the second's view). */
let renders = 0;

async function render() {
  const mine = ++renders;
  document.documentElement.lang = language();
  document.title = t("title");
  if (!state.user) {
    try {
      const me = await api("/api/me");
      state.user = me.user;
      state.sessionExpiresMs = me.session_expires_ms ?? null;
    } catch { /* not signed in */ }
    if (mine !== renders) return;
  }
  if (!state.user) {
    state.ws?.close();
    renderLogin();
    return;
  }
  connect();
  await pollWall().catch(() => {});
  await loadAlerts().catch(() => {});
  if (mine !== renders) return;
  const r = route();
  state.view = r.view;
  // A chart closing: what it had fetched of its bed's past goes (a stale bed gets no samples
  // that would prompt it).
  const closing = state.chart;
  state.chart = null;
  if (closing) forgetOld(closing.bed, closing.id);
  if (r.view === "chart") await renderChart(/** @type {number} */ (r.id), r.at ?? null);
  else if (r.view === "oncall") renderOncall();
  else if (r.view === "rosters") await renderRosters();
  else if (r.view === "account") await renderAccount();
  else if (r.view === "users") await renderUsers();
  else if (r.view === "audit") await renderAudit();
  else renderWall();
}

/** @param {number} now */
function frame(now) {
  if (state.lastFrame) {
    state.frameTimes.push(now - state.lastFrame);
    if (state.frameTimes.length > 5000) state.frameTimes.splice(0, 1000);
  }
  state.lastFrame = now;
  if (state.view === "wall") {
    for (const bed of state.beds.values()) {
      if (bed.dirty && bed.sweep && bed.card?.isConnected) {
        bed.sweep.twinOffset = chartSettings().twinOffset;
        bed.sweep.draw(bed.store);
        bed.dirty = false;
      }
    }
  } else if (state.chart?.dirty) {
    state.chart.dirty = false;
    drawChartNow();
  }
  requestAnimationFrame(frame);
}

// Words and states once a second; the bed list every 2 s.
setInterval(() => {
  if (!state.user) return;
  updateSessionBanner();
  if (state.view === "wall") for (const bed of state.beds.values()) updateCard(bed);
  else if (state.view === "chart") { updateChartUnderWay(); updateChartContext(); }
}, 1000);
setInterval(async () => {
  if (!state.user) return;
  await pollWall().catch(() => {});
  syncSubscriptions();
  if (state.view === "wall") {
    const shownIds = [...document.querySelectorAll(".bed")].map((el) => Number(/** @type {HTMLElement} */ (el).dataset.stream));
    const wantIds = sortedBeds().slice(state.page * state.perPage, (state.page + 1) * state.perPage).map((b) => b.info.id);
    if (shownIds.join() !== wantIds.join()) renderWall();
  } else if (state.view === "oncall") renderOncall();
}, 2000);
setInterval(() => {
  const sessionLeft = state.user && state.sessionExpiresMs ? state.sessionExpiresMs - Date.now() : Infinity;
  if (state.soundOn && sessionLeft < SESSION_URGENT_MS) beep();
}, 60000);
setInterval(() => {
  if (state.soundOn && [...state.alerts.values()].some((a) => !a.acknowledged && !a.resolved_ms && a.kind?.kind !== "signal_loss")) beep();
}, 15000);

window.addEventListener("hashchange", () => render());
window.addEventListener("resize", () => { if (state.chart) state.chart.dirty = true; for (const b of state.beds.values()) b.dirty = true; });
requestAnimationFrame(frame);
render();
