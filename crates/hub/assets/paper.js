// @ts-check
/**
 * Samples held in the browser, and CTG drawing on canvas: the wall's incremental sweep and the
 * full chart drawn like CTG paper (JSOG practice: 3 cm/min; FHR 50–210 or 30–240 bpm with
 * 10-bpm lines; TOCO 0–100 with 10-unit lines; a small cell of 20 s, each minute emphasised;
 * 110–160 bpm shaded; twins offset FHR2 +20, FHR3 −20 bpm, labelled; clinical.md §2).
 */

/** Samples per second. */
export const HZ = 4;
const CHUNK = 240; // one minute

/** Channel order in a sample frame: FHR1, FHR2, FHR3, MHR, UA. */
export const FHR1 = 0, FHR2 = 1, FHR3 = 2, MHR = 3, UA = 4;

/**
 * A stream's samples by sequence number, in one-minute chunks (raw values: heart rates in
 * quarter bpm, uterine activity in half units; 0 on a heart-rate channel is no signal).
 */
export class SampleStore {
  constructor() {
    /** @type {Map<number, Uint16Array>} chunk index → CHUNK×5 values */
    this.chunks = new Map();
    /** @type {Map<number, Uint8Array>} chunk index → which samples are present */
    this.present = new Map();
    /** One past the newest sequence number held. */
    this.end = 0;
    /** The oldest sequence number held. */
    this.start = Infinity;
  }

  /**
   * @param {number} seq
   * @param {ArrayLike<number>} values five raw values
   */
  put(seq, values) {
    const c = Math.floor(seq / CHUNK);
    let chunk = this.chunks.get(c);
    let present = this.present.get(c);
    if (!chunk || !present) {
      chunk = new Uint16Array(CHUNK * 5);
      present = new Uint8Array(CHUNK);
      this.chunks.set(c, chunk);
      this.present.set(c, present);
    }
    const i = seq - c * CHUNK;
    for (let k = 0; k < 5; k++) chunk[i * 5 + k] = values[k];
    present[i] = 1;
    if (seq + 1 > this.end) this.end = seq + 1;
    if (seq < this.start) this.start = seq;
  }

  /**
   * The raw value of `channel` at `seq`, or -1 where nothing is held.
   * @param {number} seq
   * @param {number} channel
   */
  get(seq, channel) {
    const c = Math.floor(seq / CHUNK);
    const present = this.present.get(c);
    const i = seq - c * CHUNK;
    if (!present || !present[i]) return -1;
    const chunk = /** @type {Uint16Array} */ (this.chunks.get(c));
    return chunk[i * 5 + channel];
  }

  /**
   * Whether every sample of [from, until) is held.
   * @param {number} from
   * @param {number} until
   */
  holds(from, until) {
    for (let s = Math.max(0, from); s < until; s += 1) {
      if (this.get(s, 0) < 0) return false;
    }
    return true;
  }

  /**
   * Forgets chunks entirely before `seq` (the wall keeps only its sweep).
   * @param {number} seq
   */
  dropBefore(seq) {
    for (const c of [...this.chunks.keys()]) {
      if ((c + 1) * CHUNK <= seq) {
        this.chunks.delete(c);
        this.present.delete(c);
      }
    }
    this.start = Math.max(this.start, seq);
  }
}

/**
 * Decodes a binary sample frame from the hub: kind 1, stream i64, first_seq u64, count u16,
 * then count × (5 × u16 values, 5 × u8 quality), little-endian.
 * @param {ArrayBuffer} buffer
 */
export function decodeFrame(buffer) {
  const view = new DataView(buffer);
  if (view.byteLength < 19 || view.getUint8(0) !== 1) return null;
  const stream = Number(view.getBigInt64(1, true));
  const firstSeq = Number(view.getBigUint64(9, true));
  const count = view.getUint16(17, true);
  if (view.byteLength < 19 + count * 15) return null;
  const values = new Uint16Array(count * 5);
  const quality = new Uint8Array(count * 5);
  let o = 19;
  for (let i = 0; i < count; i++) {
    for (let k = 0; k < 5; k++) {
      values[i * 5 + k] = view.getUint16(o, true);
      o += 2;
    }
    for (let k = 0; k < 5; k++) quality[i * 5 + k] = view.getUint8(o++);
  }
  return { stream, firstSeq, count, values, quality };
}

/** Height of the band marking false signal on the MHR channel, px. */
const MHR_FALSE_BAND = 8;

/**
 * A cross-channel coincidence's name: the analysis's names its channels ("FHR1 = FHR2 …"); the
 * monitor's own (`source: "monitor"`) says it is the monitor's.
 * @param {any} f
 * @param {(key: string) => string} t
 */
export function crossChannelLabel(f, t) {
  if (f.source === "monitor") return t("monitor_coincidence");
  return `${(f.channels ?? []).map((/** @type {string} */ c) => c.toUpperCase()).join(" = ")} ${t("cross_channel")}`;
}

/** Trace colours: FHR1 black, FHR2 blue, FHR3 green, MHR purple dashed; red only for alarms. */
export const COLOURS = {
  grid: "#f3b6c2",
  gridStrong: "#e07a93",
  paper: "#fffafa",
  normalBand: "rgba(120, 200, 140, 0.12)",
  fhr: ["#111111", "#1f5fbf", "#1a8a4a"],
  mhr: "#8a3ab9",
  toco: "#333333",
};

/**
 * The vertical place of a heart rate in a panel.
 * @param {number} bpm
 * @param {{top: number, height: number, low: number, high: number}} panel
 */
function yOf(bpm, panel) {
  return panel.top + panel.height * (1 - (bpm - panel.low) / (panel.high - panel.low));
}

/**
 * Draws paper: FHR grid (10-bpm lines, stronger every 30), the 110–160 band, TOCO grid, time
 * cells of 20 s with each minute emphasised.
 * @param {CanvasRenderingContext2D} ctx
 * @param {{width: number, fhr: {top: number, height: number, low: number, high: number},
 *   toco: {top: number, height: number}, pxPerSecond: number, startSeconds: number,
 *   labels?: boolean}} layout
 */
export function drawPaper(ctx, layout) {
  const { width, fhr, toco, pxPerSecond, startSeconds } = layout;
  ctx.fillStyle = COLOURS.paper;
  ctx.fillRect(0, 0, width, toco.top + toco.height);
  ctx.fillStyle = COLOURS.normalBand;
  ctx.fillRect(0, yOf(160, fhr), width, yOf(110, fhr) - yOf(160, fhr));
  ctx.lineWidth = 1;
  for (let bpm = fhr.low; bpm <= fhr.high; bpm += 10) {
    const y = Math.round(yOf(bpm, fhr)) + 0.5;
    ctx.strokeStyle = bpm % 30 === 0 ? COLOURS.gridStrong : COLOURS.grid;
    line(ctx, 0, y, width, y);
  }
  for (let u = 0; u <= 100; u += 10) {
    const y = Math.round(toco.top + toco.height * (1 - u / 100)) + 0.5;
    ctx.strokeStyle = u % 50 === 0 ? COLOURS.gridStrong : COLOURS.grid;
    line(ctx, 0, y, width, y);
  }
  const firstCell = Math.ceil(startSeconds / 20) * 20;
  for (let s = firstCell; (s - startSeconds) * pxPerSecond <= width; s += 20) {
    const x = Math.round((s - startSeconds) * pxPerSecond) + 0.5;
    const minute = s % 60 === 0;
    ctx.strokeStyle = minute ? COLOURS.gridStrong : COLOURS.grid;
    ctx.lineWidth = minute ? 1.5 : 1;
    line(ctx, x, fhr.top, x, fhr.top + fhr.height);
    line(ctx, x, toco.top, x, toco.top + toco.height);
    ctx.lineWidth = 1;
  }
  if (layout.labels) {
    ctx.fillStyle = "#a0425a";
    ctx.font = "11px sans-serif";
    for (let bpm = fhr.low; bpm <= fhr.high; bpm += 30) {
      if (bpm % 30 === 0) ctx.fillText(String(bpm), 2, yOf(bpm, fhr) - 2);
    }
    for (let u = 0; u <= 100; u += 50) {
      ctx.fillText(String(u), 2, toco.top + toco.height * (1 - u / 100) - 2);
    }
  }
}

/**
 * @param {CanvasRenderingContext2D} ctx
 * @param {number} x1 @param {number} y1 @param {number} x2 @param {number} y2
 */
function line(ctx, x1, y1, x2, y2) {
  ctx.beginPath();
  ctx.moveTo(x1, y1);
  ctx.lineTo(x2, y2);
  ctx.stroke();
}

/**
 * Draws the traces of [fromSeq, untilSeq) at x = (seq − originSeq) / HZ × pxPerSecond.
 * Heart rates break at signal loss (0) and at jumps over 25 bpm (as paper recorders do).
 * @param {CanvasRenderingContext2D} ctx
 * @param {SampleStore} store
 * @param {{fhr: {top: number, height: number, low: number, high: number},
 *   toco: {top: number, height: number}, pxPerSecond: number, originSeq: number,
 *   twinOffset: boolean, lineWidth?: number}} layout
 * @param {number} fromSeq
 * @param {number} untilSeq
 */
export function drawTraces(ctx, store, layout, fromSeq, untilSeq) {
  const { fhr, toco, pxPerSecond, originSeq } = layout;
  const x = (/** @type {number} */ seq) => ((seq - originSeq) / HZ) * pxPerSecond;
  ctx.lineWidth = layout.lineWidth ?? 1.4;
  const offsets = layout.twinOffset ? [0, 20, -20] : [0, 0, 0];
  for (const channel of [MHR, FHR3, FHR2, FHR1]) {
    ctx.strokeStyle = channel === MHR ? COLOURS.mhr : COLOURS.fhr[channel];
    ctx.setLineDash(channel === MHR ? [4, 3] : []);
    const offset = channel === MHR ? 0 : offsets[channel];
    ctx.beginPath();
    let previous = -1;
    for (let seq = fromSeq; seq < untilSeq; seq++) {
      const raw = store.get(seq, channel);
      if (raw <= 0) {
        previous = -1;
        continue;
      }
      const bpm = raw / 4 + offset;
      const y = yOf(Math.min(Math.max(bpm, fhr.low), fhr.high), fhr);
      if (previous < 0 || Math.abs(bpm - previous) > 25) ctx.moveTo(x(seq), y);
      else ctx.lineTo(x(seq), y);
      previous = bpm;
    }
    ctx.stroke();
  }
  ctx.setLineDash([]);
  ctx.strokeStyle = COLOURS.toco;
  ctx.beginPath();
  let drawing = false;
  for (let seq = fromSeq; seq < untilSeq; seq++) {
    const raw = store.get(seq, UA);
    if (raw < 0) {
      drawing = false;
      continue;
    }
    const y = toco.top + toco.height * (1 - Math.min(raw / 2, 100) / 100);
    if (!drawing) ctx.moveTo(x(seq), y);
    else ctx.lineTo(x(seq), y);
    drawing = true;
  }
  ctx.stroke();
}

/**
 * The wall's live sweep for one bed: a static paper layer and a trace layer on which only the
 * samples that arrived since the last frame are drawn, with a 6-px bar cleared ahead, like a
 * monitor's sweeping display (ecosystem.md §3).
 */
export class Sweep {
  /**
   * @param {HTMLCanvasElement} paper
   * @param {HTMLCanvasElement} trace
   * @param {number} seconds the window
   */
  constructor(paper, trace, seconds) {
    this.paper = paper;
    this.trace = trace;
    this.seconds = seconds;
    this.drawnUntil = -1;
    this.width = 0;
    this.height = 0;
    this.twinOffset = true;
  }

  layout() {
    const h = this.height;
    return {
      width: this.width,
      fhr: { top: 2, height: h * 0.62, low: 50, high: 210 },
      toco: { top: h * 0.68, height: h * 0.3 },
      pxPerSecond: this.width / this.seconds,
      startSeconds: 0,
      originSeq: 0,
      twinOffset: this.twinOffset,
      lineWidth: 1.2,
    };
  }

  /** Resizes to the element's size and redraws everything (only when the size changed). */
  fit() {
    const w = this.trace.clientWidth, h = this.trace.clientHeight;
    if (w === this.width && h === this.height) return false;
    this.width = w;
    this.height = h;
    for (const c of [this.paper, this.trace]) {
      c.width = w;
      c.height = h;
    }
    const ctx = this.paper.getContext("2d");
    if (ctx) drawPaper(ctx, this.layout());
    this.drawnUntil = -1;
    return true;
  }

  /**
   * Draws what arrived since the last call; returns the samples drawn.
   * @param {SampleStore} store
   */
  draw(store) {
    this.fit();
    const ctx = this.trace.getContext("2d");
    if (!ctx || store.end === 0) return 0;
    const window = this.seconds * HZ;
    let from = this.drawnUntil < 0 ? Math.max(store.start, store.end - window) : this.drawnUntil - 1;
    const until = store.end;
    if (until <= from + 1 && this.drawnUntil >= 0) return 0;
    if (this.drawnUntil < 0) ctx.clearRect(0, 0, this.width, this.height);
    const layout = this.layout();
    // The sweep wraps: draw in up to two pieces, each at its place modulo the window.
    let drawn = 0;
    while (from < until - 1 || (drawn === 0 && from < until)) {
      const base = Math.floor(from / window) * window;
      const pieceUntil = Math.min(until, base + window);
      const x0 = ((from - base) / HZ) * layout.pxPerSecond;
      const x1 = ((pieceUntil - base) / HZ) * layout.pxPerSecond;
      ctx.clearRect(x0 + 1, 0, x1 - x0 + 6, this.height);
      drawTraces(ctx, store, { ...layout, originSeq: base }, from, pieceUntil);
      drawn += pieceUntil - from;
      from = pieceUntil;
      if (pieceUntil === base + window && pieceUntil < until) {
        ctx.clearRect(0, 0, 6, this.height);
      } else break;
    }
    this.drawnUntil = until;
    store.dropBefore(until - window - CHUNK);
    return drawn;
  }
}

/** The level colours (Parer–Ikeda scheme: green, blue, yellow, orange, red; clinical.md §1.10)
 * and a shape per level, so they do not rest on colour alone. */
export const LEVELS = {
  1: { colour: "#2e9e5b", shape: "●" },
  2: { colour: "#2f6fd0", shape: "■" },
  3: { colour: "#d9b300", shape: "▲" },
  4: { colour: "#ef7d1a", shape: "◆" },
  5: { colour: "#d0021b", shape: "✖" },
};

/**
 * Whether a level rests on too little signal to be read as more than indicative, as the
 * analysis judged it (its event gate, `WindowConfig::min_event_signal_share`; clinical.md
 * §4.5, grey out analysis on poor signal). False for levels stored without their evidence.
 * @param {any} f
 */
export function lowSignal(f) {
  return f.evidence?.low_signal === true;
}

/**
 * Draws the full chart of [startSeq, startSeq + span) with the analysis overlays.
 * @param {HTMLCanvasElement} canvas
 * @param {SampleStore} store
 * @param {{startSeq: number, pxPerCm: number, cmPerMin: number, low: number, high: number,
 *   twinOffset: boolean, findings: any[], t: (k: string) => string, height: number}} view
 * @returns {{hits: {x0: number, x1: number, y0: number, y1: number, finding: any}[]}}
 */
export function drawChart(canvas, store, view) {
  const width = canvas.width;
  const height = view.height;
  const pxPerSecond = (view.cmPerMin * view.pxPerCm) / 60;
  // Twins' findings name their fetal channel: the level band gets a row per fetus.
  const fetuses = [...new Set(view.findings.filter((f) => f.kind === "classification" && f.fetal_channel).map((f) => String(f.fetal_channel)))].sort();
  const rowHeight = 18;
  // Under the levels, a row for fetal channels recording one heart where they have: one for
  // the analysis's check, one for the monitor's own (`source`).
  const levelsHeight = rowHeight * Math.max(1, fetuses.length);
  const crossSources = [...new Set(view.findings.filter((f) => String(f.kind).startsWith("cross_channel")).map((f) => String(f.source ?? "")))].sort();
  const band = { top: 0, height: levelsHeight + rowHeight * crossSources.length };
  const fhr = { top: band.height + 4, height: height * 0.6 - (band.height - rowHeight), low: view.low, high: view.high };
  const toco = { top: fhr.top + fhr.height + 26, height: height - fhr.height - 56 - (band.height - rowHeight) };
  const startSeconds = view.startSeq / HZ;
  const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d"));
  ctx.clearRect(0, 0, width, canvas.height);
  drawPaper(ctx, { width, fhr, toco, pxPerSecond, startSeconds, labels: true });
  const spanSeq = Math.ceil((width / pxPerSecond) * HZ);
  const x = (/** @type {number} */ seconds) => (seconds - startSeconds) * pxPerSecond;
  /** @type {{x0: number, x1: number, y0: number, y1: number, finding: any}[]} */
  const hits = [];
  // Findings behind the traces (twins' channels coinciding while under way: up to the newest sample).
  const untilNow = (/** @type {any} */ f) => (f.kind === "cross_channel_under_way" ? Math.max(f.start_s, f.until_s ?? store.end / HZ) : (f.end_s ?? f.start_s ?? 0));
  for (const f of view.findings) {
    const x0 = x(f.start_s ?? 0), x1 = x(untilNow(f));
    if (x1 < 0 || x0 > width) continue;
    if (f.kind === "deceleration") {
      ctx.fillStyle = f.severity === "severe" ? "rgba(239,125,26,0.28)" : "rgba(239,180,26,0.22)";
      ctx.fillRect(x0, fhr.top, x1 - x0, fhr.height);
      hits.push({ x0, x1, y0: fhr.top, y1: fhr.top + fhr.height, finding: f });
    } else if (f.kind === "acceleration") {
      ctx.fillStyle = "rgba(46,158,91,0.18)";
      ctx.fillRect(x0, fhr.top, x1 - x0, fhr.height);
      hits.push({ x0, x1, y0: fhr.top, y1: fhr.top + fhr.height, finding: f });
    } else if (f.kind === "contraction") {
      ctx.fillStyle = "rgba(47,111,208,0.15)";
      ctx.fillRect(x0, toco.top, x1 - x0, toco.height);
      hits.push({ x0, x1, y0: toco.top, y1: toco.top + toco.height, finding: f });
    } else if (f.kind === "false_signal" && f.channel === "mhr") {
      // The maternal channel's own false signal: a band in its colour along the foot of the
      // strip, so it is not read as the fetal trace being false.
      const y0 = fhr.top + fhr.height - MHR_FALSE_BAND;
      ctx.fillStyle = "rgba(138,58,185,0.35)";
      ctx.fillRect(x0, y0, x1 - x0, MHR_FALSE_BAND);
      hits.push({ x0, x1, y0, y1: fhr.top + fhr.height, finding: f });
    } else if (f.kind === "false_signal") {
      ctx.fillStyle = "rgba(120,120,120,0.35)";
      ctx.fillRect(x0, fhr.top, x1 - x0, fhr.height);
      hits.push({ x0, x1, y0: fhr.top, y1: fhr.top + fhr.height, finding: f });
    }
  }
  drawTraces(ctx, store, { fhr, toco, pxPerSecond, originSeq: view.startSeq, twinOffset: view.twinOffset }, view.startSeq, view.startSeq + spanSeq);
  // Baseline per window, the level band, labels (a twin's say whose they are).
  ctx.font = "12px sans-serif";
  const whose = (/** @type {any} */ f) => (f.fetal_channel ? `${String(f.fetal_channel).toUpperCase()} ` : "");
  for (const f of view.findings) {
    const x0 = x(f.start_s ?? 0), x1 = x(untilNow(f));
    if (x1 < 0 || x0 > width) continue;
    if (f.kind === "baseline" && typeof f.bpm === "number") {
      ctx.strokeStyle = "#2f6fd0";
      ctx.setLineDash([6, 4]);
      line(ctx, x0, yOf(f.bpm, fhr), x1, yOf(f.bpm, fhr));
      ctx.setLineDash([]);
    } else if (f.kind === "classification") {
      const level = LEVELS[/** @type {1|2|3|4|5} */ (f.jsog_level)];
      if (!level) continue;
      const faded = lowSignal(f);
      const row = f.fetal_channel ? Math.max(0, fetuses.indexOf(String(f.fetal_channel))) : 0;
      const top = band.top + row * rowHeight, rowH = f.fetal_channel ? rowHeight : levelsHeight;
      ctx.fillStyle = level.colour;
      ctx.globalAlpha = faded ? 0.35 : 1;
      ctx.fillRect(x0, top, x1 - x0 - 1, rowH - (f.fetal_channel && fetuses.length > 1 ? 1 : 0));
      ctx.globalAlpha = 1;
      ctx.fillStyle = f.jsog_level === 3 || faded ? "#000" : "#fff";
      const signal = faded ? ` (${Math.round(f.evidence.signal_percent)} %?)` : "";
      ctx.fillText(`${whose(f)}${level.shape} ${view.t("level")} ${f.jsog_level}${signal}`, Math.max(x0, 0) + 4, top + 13);
      hits.push({ x0, x1, y0: top, y1: top + rowH, finding: f });
    } else if (f.kind === "deceleration" || f.kind === "acceleration") {
      ctx.fillStyle = "#222";
      const label = f.kind === "deceleration"
        ? `${view.t(f.type)} ${view.t(f.severity)}${f.recurrent ? " · " + view.t("recurrent") : ""}`
        : view.t(f.prolonged ? "prolonged_acceleration" : "acceleration");
      ctx.fillText(whose(f) + label, Math.max(x0, 0) + 2, fhr.top + fhr.height - 6);
    } else if (f.kind === "cross_channel" || f.kind === "cross_channel_under_way") {
      // Twins' channels recording one heart: its own row under the levels, to the newest
      // sample while it lasts.
      const top = band.top + levelsHeight + rowHeight * Math.max(0, crossSources.indexOf(String(f.source ?? "")));
      ctx.fillStyle = f.source === "monitor" ? "#7a2a8f" : "#b0246a";
      ctx.fillRect(x0, top, x1 - x0 - 1, rowHeight - 1);
      ctx.fillStyle = "#fff";
      ctx.fillText(crossChannelLabel(f, view.t), Math.max(x0, 0) + 4, top + 13);
      hits.push({ x0, x1, y0: top, y1: top + rowHeight, finding: f });
    } else if (f.kind === "false_signal" && f.channel === "mhr") {
      ctx.fillStyle = COLOURS.mhr;
      ctx.fillText(`${view.t("false_signal")} (MHR): ${view.t(f.reason)}`, Math.max(x0, 0) + 2, fhr.top + 28);
    } else if (f.kind === "false_signal") {
      ctx.fillStyle = "#333";
      ctx.fillText(`${view.t("false_signal")} (${f.channel}): ${view.t(f.reason)}`, Math.max(x0, 0) + 2, fhr.top + 14);
    }
  }
  // Time labels every 2 minutes, and the scale in the corner.
  ctx.fillStyle = "#a0425a";
  ctx.font = "11px sans-serif";
  const firstLabel = Math.ceil(startSeconds / 120) * 120;
  for (let s = firstLabel; x(s) < width; s += 120) {
    ctx.fillText(`${Math.round(s / 60)} ${view.t("minutes")}`, x(s) + 2, fhr.top + fhr.height + 16);
  }
  ctx.fillStyle = "#333";
  ctx.fillText(`${view.cmPerMin} cm/min · ${view.pxPerCm.toFixed(1)} px/cm · ${view.low}–${view.high} bpm${view.twinOffset ? " · FHR2 +20 / FHR3 −20" : ""}`, width - 330, height - 4);
  return { hits };
}
