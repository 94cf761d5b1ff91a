// The viewer in a real browser (Debian chromium, driven by playwright-core) against a running
// `mimamori demo` with 32 beds: sign in; every bed on the wall draws live; a clinic-a user sees
// only clinic-a; a bed's chart shows the planted prolonged deceleration as a labelled overlay;
// its alert is acknowledged in the UI and the acknowledgement is in the audit log; a bridge
// killed makes its beds visibly stale within 10 s, and one killed during a deceleration leaves
// it on the card marked "when the data stopped", with a clinical stall alert; the chart prints to PDF; false signal on a
// bed's MHR channel is listed as MHR and marked as a thin band, not over the fetal trace; a bed
// with no toco applied says so in its levels, and a level resting on a band its window could not
// measure says so; five wrong passwords lock a username and the sign-in form says for how long;
// a user with a second factor is asked for the authenticator's code and signs in with it, and
// registers her app again from her account page's QR code; an administrator disables an account
// from the users page and its open wall signs out at once; a user changes her own password.
// Screenshots and the wall's frame times go to target/browser/.
//
//   node tests/browser/viewer.test.mjs            (MIMAMORI_BIN: the binary, default target/debug/mimamori)

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdirSync, writeFileSync, statSync, existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const out = join(root, "target/browser");
mkdirSync(out, { recursive: true });
const bin = process.env.MIMAMORI_BIN ?? join(root, "target/debug/mimamori");
assert.ok(existsSync(bin), `no binary at ${bin}: build it first (cargo build)`);
const port = 18000 + Math.floor(Math.random() * 2000);
const SPEED = Number(process.env.DEMO_SPEED ?? 10);
const BEDS = 32;
const started = Date.now();
const log = (/** @type {string} */ m) => console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s] ${m}`);

// ── the demo ──
const demo = spawn(bin, ["demo", "--http", `127.0.0.1:${port}`, "--beds", String(BEDS), "--speed", String(SPEED)], { stdio: ["ignore", "pipe", "pipe"] });
let demoOut = "";
demo.stdout.on("data", (d) => { demoOut += d; });
demo.stderr.on("data", (d) => { demoOut += d; });
const stopDemo = () => { try { demo.kill("SIGINT"); } catch { /* gone */ } };
process.on("exit", stopDemo);

/**
 * The 6-digit code an authenticator app shows for an `otpauth://totp/` URI (RFC 6238: HMAC-SHA1,
 * 30-s steps), `aheadS` seconds from now.
 * @param {string} uri
 * @param {number} [aheadS]
 */
function authenticatorCode(uri, aheadS = 0) {
  const secret = new URL(uri).searchParams.get("secret") ?? "";
  let bits = "";
  for (const c of secret) bits += "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".indexOf(c).toString(2).padStart(5, "0");
  const key = Buffer.from((bits.match(/.{8}/g) ?? []).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor((Date.now() / 1000 + aheadS) / 30)));
  const mac = createHmac("sha1", key).update(counter).digest();
  const at = mac[mac.length - 1] & 0x0f;
  return String((mac.readUInt32BE(at) & 0x7fffffff) % 1_000_000).padStart(6, "0");
}

/** What a check saw last (for the failure message). */
let lastSeen = null;
async function waitFor(/** @type {() => any} */ check, /** @type {number} */ ms, /** @type {string} */ what) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    const value = await check();
    if (value) return value;
    last = lastSeen;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}; last seen: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Waits (up to 2 minutes) until a stream has a stored level whose evidence `test` accepts.
 * @param {import("playwright-core").Page} page
 * @param {number} id
 * @param {(evidence: any) => boolean} test
 * @param {string} what
 */
async function waitForLevel(page, id, test, what) {
  return waitFor(async () => {
    const levels = await page.evaluate(async (id) => {
      const r = await fetch(`/api/streams/${id}/findings?kind=classification`);
      return r.ok ? (await r.json()).findings : [];
    }, id);
    lastSeen = levels.map((/** @type {any} */ f) => f.evidence);
    return levels.find((/** @type {any} */ f) => f.evidence && test(f.evidence));
  }, 120000, what);
}

/**
 * Opens a bed's chart at a time of its stream (not at its live edge, which a level's 10-minute
 * window can have scrolled past before the next level is out) and hovers each level on it:
 * their hover boxes' text.
 * @param {import("playwright-core").Page} page
 * @param {string} url
 * @param {number} id
 * @param {number} atSeconds
 */
async function levelTips(page, url, id, atSeconds) {
  await page.goto(`${url}#/wall`);
  await page.waitForSelector(".bed");
  await page.goto(`${url}#/bed/${id}?at=${Math.floor(atSeconds)}`);
  await page.waitForSelector("canvas#chart");
  const hits = await waitFor(async () => {
    const hits = (await page.evaluate(() => window["mimamori"].chartHits())).filter((/** @type {any} */ h) => h.kind === "classification");
    lastSeen = hits;
    return hits.length > 0 && hits;
  }, 30000, "levels on the chart");
  const box = await page.locator("canvas#chart").boundingBox();
  assert.ok(box, "the chart has a box");
  const tips = [];
  for (const hit of hits) {
    const x0 = Math.max(hit.x0, 0);
    const x1 = Math.min(hit.x1, box.width);
    if (x1 - x0 < 4) continue;
    await page.mouse.move(box.x + (x0 + x1) / 2, box.y + (hit.y0 + hit.y1) / 2);
    tips.push((await page.locator(".tip").textContent()) ?? "");
  }
  return tips;
}

const url = await waitFor(() => /open (http:\/\/\S+)/.exec(demoOut)?.[1], 60000, "the demo's URL");
const pids = Object.fromEntries([...demoOut.matchAll(/bridge (\S+): pid (\d+)/g)].map((m) => [m[1], Number(m[2])]));
log(`demo at ${url}; bridges ${JSON.stringify(pids)}`);
assert.ok(pids["midwife-home-b"], "the demo printed the midwife-home-b bridge's PID");

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const result = {};
try {
  // ── sign in, the wall ──
  const context = await browser.newContext({ viewport: { width: 1920, height: 1080 }, locale: "ja-JP" });
  await context.addInitScript(() => {
    localStorage.setItem("mimamori.perPage", "32");
    localStorage.setItem("mimamori.sound", "off");
    window.print = () => {};
    // Counts the audio contexts the page makes (the alarm's).
    const Audio = window.AudioContext;
    window.AudioContext = class extends Audio {
      /** @param {any[]} args */
      constructor(...args) {
        window["audioContextsMade"] = (window["audioContextsMade"] ?? 0) + 1;
        super(...args);
      }
    };
  });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") problems.push(m.text()); });
  await page.goto(url);
  await page.fill("input[name=username]", "demo");
  await page.fill("input[name=password]", "mimamori-demo");
  await page.click("button[type=submit]");
  await page.waitForSelector(".bed");
  await waitFor(async () => (await page.locator(".bed").count()) === BEDS, 30000, `${BEDS} beds on the wall`);
  log(`${BEDS} beds on the wall`);
  assert.equal(await page.locator("html").getAttribute("lang"), "ja", "Japanese by default");
  const beds = await waitFor(async () => {
    const beds = await page.evaluate(() => window["mimamori"].beds());
    lastSeen = beds.filter((/** @type {any} */ b) => !(b.samples > 20 && b.state === "live"));
    return beds.every((/** @type {any} */ b) => b.samples > 20 && b.state === "live") && beds;
  }, 60000, "live traces on every bed");
  log(`every bed live: ${beds.map((/** @type {any} */ b) => b.samples).join(" ")}`);
  // The wall keeps 2 hours of each bed in memory; a minute here, checked at the end.
  await page.evaluate(() => window["mimamori"].keepSeconds(60));
  // The traces are drawn: the trace canvases hold ink.
  const inked = await page.evaluate(() => [...document.querySelectorAll("canvas.trace")].filter((c) => {
    const canvas = /** @type {HTMLCanvasElement} */ (c);
    const data = canvas.getContext("2d")?.getImageData(0, 0, canvas.width, canvas.height).data ?? [];
    for (let i = 3; i < data.length; i += 4) if (data[i] > 0) return true;
    return false;
  }).length);
  assert.equal(inked, BEDS, "every bed's trace canvas has a drawn trace");
  await page.screenshot({ path: join(out, "wall.png") });

  // ── frame time with 32 live beds ──
  await page.evaluate(() => window["mimamori"].resetFrameTimes());
  await page.waitForTimeout(10000);
  const frames = await page.evaluate(() => window["mimamori"].frameTimes());
  frames.sort((a, b) => a - b);
  const pct = (/** @type {number} */ p) => frames[Math.min(frames.length - 1, Math.floor(frames.length * p))];
  result.frame_time_ms = { frames: frames.length, p50: pct(0.5), p99: pct(0.99), max: frames.at(-1), beds: BEDS, data_rate: `${SPEED}x real time` };
  log(`frame time over 10 s: p50 ${pct(0.5).toFixed(1)} ms, p99 ${pct(0.99).toFixed(1)} ms (${frames.length} frames)`);

  // ── repeated wrong passwords lock the username, and the form says for how long ──
  {
    const other = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: "ja-JP" });
    const p = await other.newPage();
    await p.goto(url);
    const said = [];
    for (let n = 0; n < 6; n++) {
      await p.fill("input[name=username]", "night-shift");
      await p.fill("input[name=password]", `not it ${n}`);
      await p.evaluate(() => { const e = document.querySelector("form.login .error"); if (e) e.textContent = ""; });
      await Promise.all([p.waitForResponse((r) => r.url().endsWith("/api/login")), p.click("button[type=submit]")]);
      await waitFor(async () => ((await p.locator("form.login .error").textContent()) ?? "") !== "", 5000, "the form's answer");
      said.push((await p.locator("form.login .error").textContent()) ?? "");
    }
    assert.equal(said[0], "ユーザー名またはパスワードが違います", `first answer: ${said[0]}`);
    assert.match(said[5], /15 分後まで使えません/, `after five wrong passwords: ${said[5]}`);
    await p.screenshot({ path: join(out, "login-locked.png") });
    await other.close();
    log(`sign-in locked after five wrong passwords: "${said[5]}"`);
  }

  // ── a user with a second factor: the form asks for the authenticator's code ──
  {
    const uri = /otpauth:\/\/\S+/.exec(demoOut)?.[0];
    assert.ok(uri, "the demo prints the remote user's otpauth URI");
    const other = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: "ja-JP" });
    const p = await other.newPage();
    await p.goto(url);
    assert.ok(await p.locator("form.login label.code").isHidden(), "no code field before it is asked for");
    await p.fill("input[name=username]", "remote");
    await p.fill("input[name=password]", "mimamori-demo");
    await Promise.all([p.waitForResponse((r) => r.url().endsWith("/api/login")), p.click("button[type=submit]")]);
    await p.locator("form.login label.code").waitFor({ state: "visible", timeout: 5000 });
    const asked = (await p.locator("form.login .error").textContent()) ?? "";
    assert.match(asked, /6 桁の確認コード/, `asked: ${asked}`);
    await p.screenshot({ path: join(out, "login-code.png") });
    await p.fill("input[name=code]", authenticatorCode(uri));
    await p.click("button[type=submit]");
    await p.waitForSelector(".bed", { timeout: 15000 });
    // Her account page: the factor is on; she registers her app again from the QR code.
    await p.click("nav.top a.me");
    await p.waitForSelector("main.account .second-factor-state");
    const state = (await p.locator("main.account .second-factor-state").textContent()) ?? "";
    assert.match(state, /設定済み/, `state: ${state}`);
    await p.fill("main.account input[name=password]", "mimamori-demo");
    await p.click("main.account button.start-second-factor");
    await p.waitForSelector("main.account img.qr");
    const qrSize = await p.evaluate(() => { const img = /** @type {HTMLImageElement} */ (document.querySelector("main.account img.qr")); return img.complete ? img.naturalWidth : 0; });
    assert.ok(qrSize >= 200, `the QR code is drawn (${qrSize} px)`);
    const secret = ((await p.locator("main.account code.secret").textContent()) ?? "").trim();
    await p.screenshot({ path: join(out, "account-second-factor.png") });
    await p.fill("main.account input[name=code]", authenticatorCode(`otpauth://totp/x?secret=${secret}`));
    await p.click("main.account form.confirm button[type=submit]");
    await waitFor(async () => /設定しました/.test((await p.locator("main.account .second-factor-status").textContent()) ?? ""), 5000, "the confirmation");
    await other.close();
    log(`second factor: asked "${asked}", signed in with the authenticator's code; registered again from the account page's QR code (${qrSize} px)`);
  }

  // ── a clinic-a midwife sees only clinic-a ──
  {
    const other = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const p = await other.newPage();
    await p.goto(url);
    await p.fill("input[name=username]", "clinic-a");
    await p.fill("input[name=password]", "mimamori-demo");
    await p.click("button[type=submit]");
    await p.waitForSelector(".bed");
    await p.waitForTimeout(2500);
    const seen = await p.evaluate(() => window["mimamori"].beds().map((/** @type {any} */ b) => b.facility));
    const cards = await p.locator(".bed .where").allTextContents();
    const api = await p.evaluate(async () => (await (await fetch("/api/wall")).json()).map((/** @type {any} */ b) => b.facility));
    assert.ok(seen.length === 4 && seen.every((f) => f === "clinic-a"), `clinic-a sees only its 4 beds, not ${JSON.stringify(seen)}`);
    assert.ok(cards.every((c) => c.startsWith("clinic-a")), `cards: ${cards}`);
    assert.ok(api.every((f) => f === "clinic-a"));
    // Not by guessing a stream ID either.
    const foreign = beds.find((/** @type {any} */ b) => b.facility !== "clinic-a").id;
    const status = await p.evaluate(async (id) => (await fetch(`/api/streams/${id}/samples?from=0&until=10`)).status, foreign);
    assert.equal(status, 403, "another facility's history is refused");
    await p.screenshot({ path: join(out, "wall-clinic-a.png") });
    await other.close();
    log("a clinic-a user sees only clinic-a's 4 beds");
  }

  // ── an administrator disables someone who has left: her open wall signs out at once, and
  // the sign-in form says the account is disabled; enabled again, she signs in. An account
  // added from the users page changes its own password on the account page ──
  {
    const leaver = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: "ja-JP" });
    const her = await leaver.newPage();
    await her.goto(url);
    await her.fill("input[name=username]", "clinic-a");
    await her.fill("input[name=password]", "mimamori-demo");
    await her.click("button[type=submit]");
    await her.waitForSelector(".bed");
    const office = await browser.newContext({ viewport: { width: 1600, height: 900 }, locale: "ja-JP" });
    const admin = await office.newPage();
    admin.on("dialog", (d) => d.accept());
    await admin.goto(url);
    await admin.fill("input[name=username]", "admin");
    await admin.fill("input[name=password]", "mimamori-demo");
    await admin.click("button[type=submit]");
    await admin.waitForSelector(".bed");
    await admin.click("nav.top a[href='#/users']");
    const row = admin.locator("main.users tr[data-user=clinic-a]");
    await row.waitFor({ timeout: 5000 });
    assert.match((await row.textContent()) ?? "", /助産師.*clinic-a.*有効/, "her row before");
    const disabledAt = Date.now();
    await row.locator("button.disable").click();
    await waitFor(async () => /無効/.test((await admin.locator("main.users tr[data-user=clinic-a] td.state").textContent()) ?? ""), 5000, "her row says disabled");
    await admin.screenshot({ path: join(out, "users.png") });
    await her.waitForSelector("form.login", { timeout: 5000 });
    const signedOutAfter = Date.now() - disabledAt;
    // The form says the screen was signed out, and that its traces and alerts have stopped.
    assert.match((await her.locator("form.login .signed-out").textContent()) ?? "", /サインインが終了しました。この画面の波形とアラートは止まっています/);
    await her.fill("input[name=username]", "clinic-a");
    await her.fill("input[name=password]", "mimamori-demo");
    await Promise.all([her.waitForResponse((r) => r.url().endsWith("/api/login")), her.click("button[type=submit]")]);
    await waitFor(async () => /無効/.test((await her.locator("form.login .error").textContent()) ?? ""), 5000, "the form says the account is disabled");
    await admin.locator("main.users tr[data-user=clinic-a] button.enable").click();
    await waitFor(async () => /^有効$/.test(((await admin.locator("main.users tr[data-user=clinic-a] td.state").textContent()) ?? "").trim()), 5000, "her row says enabled");
    await her.click("button[type=submit]");
    await her.waitForSelector(".bed", { timeout: 15000 });
    await leaver.close();

    await admin.fill("main.users form.add-user input[name=username]", "mw-new");
    await admin.selectOption("main.users form.add-user select[name=role]", "midwife");
    await admin.fill("main.users form.add-user input[name=facility]", "clinic-c");
    await admin.fill("main.users form.add-user input[name=password]", "first password");
    await admin.click("main.users form.add-user button[type=submit]");
    await admin.locator("main.users tr[data-user=mw-new]").waitFor({ timeout: 5000 });
    // The audit-log page: the chain verifies, and the disabling is found by its action.
    await admin.click("nav.top a[href='#/audit']");
    await admin.locator("main.audit tbody tr").first().waitFor({ timeout: 5000 });
    assert.match((await admin.locator("main.audit .chain").textContent()) ?? "", /検証済み/);
    await admin.fill("main.audit input[name=action]", "user_disabled");
    await admin.click("main.audit form.audit-filter button[type=submit]");
    await waitFor(async () => {
      const shown = await admin.locator("main.audit tbody tr").allTextContents();
      return shown.length === 1 && /admin\s*user_disabled\s*clinic-a/.test(shown[0]);
    }, 5000, "the disabling alone in the filtered audit log");
    await admin.screenshot({ path: join(out, "audit.png") });
    await office.close();
    const newcomer = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: "ja-JP" });
    const p = await newcomer.newPage();
    await p.goto(url);
    await p.fill("input[name=username]", "mw-new");
    await p.fill("input[name=password]", "first password");
    await p.click("button[type=submit]");
    await p.click("nav.top a.me");
    await p.waitForSelector("main.account form.change-password");
    const change = async (/** @type {string} */ current, /** @type {string} */ next, /** @type {string} */ again) => {
      await p.evaluate(() => { const s = document.querySelector("form.change-password [role=status]"); if (s) s.textContent = ""; });
      await p.fill("form.change-password input[name=current]", current);
      await p.fill("form.change-password input[name=new]", next);
      await p.fill("form.change-password input[name=again]", again);
      await p.click("form.change-password button[type=submit]");
      return waitFor(async () => (await p.locator("form.change-password [role=status]").textContent()) || false, 5000, "the password form's answer");
    };
    assert.match(await change("first password", "my own secret", "my own secrets"), /一致しません/);
    assert.match(await change("not the first", "my own secret", "my own secret"), /違います/);
    assert.match(await change("first password", "my own secret", "my own secret"), /変更しました/);
    await newcomer.close();
    log(`users page: clinic-a disabled, her open wall signed out after ${signedOutAfter} ms, refused as disabled, enabled again; mw-new added and changed her own password`);
  }

  // ── the session's last half hour: the wall says so, and takes the password without leaving
  // it; the live traces carry on over the new session ──
  {
    const ctx = await browser.newContext({ viewport: { width: 1600, height: 900 }, locale: "ja-JP" });
    const p = await ctx.newPage();
    await p.goto(url);
    await p.fill("input[name=username]", "clinic-a");
    await p.fill("input[name=password]", "mimamori-demo");
    await p.click("button[type=submit]");
    await p.waitForSelector(".bed");
    const expiry = async () => p.evaluate(async () => (await (await fetch("/api/me")).json()).session_expires_ms);
    const ends = await expiry();
    await p.waitForTimeout(1500);
    assert.ok(await p.locator("#session-banner").isHidden(), "no offer hours before the end");
    // The page's clock 20 minutes before the session ends (the hub's clock is not touched).
    await ctx.clock.setFixedTime(ends - 20 * 60_000);
    await p.locator("#session-banner").waitFor({ state: "visible", timeout: 5000 });
    const offer = (await p.locator("#session-banner .left").textContent()) ?? "";
    assert.match(offer, /あと 20 分/, `the offer: ${offer}`);
    await p.screenshot({ path: join(out, "session-ending.png") });
    await p.fill("#session-banner input[name=renew-password]", "not it");
    await p.click("#session-banner button[type=submit]");
    await waitFor(async () => /違います/.test((await p.locator("#session-banner .said").textContent()) ?? ""), 5000, "a wrong password said");
    await p.fill("#session-banner input[name=renew-password]", "mimamori-demo");
    await p.click("#session-banner button[type=submit]");
    // (A sign-in's password check waits its turn behind others on a loaded machine: 15 s.)
    const renewedEnds = await waitFor(async () => { const e = await expiry(); return e > ends && e; }, 15000, "a new session");
    assert.equal(await p.locator("#session-banner input[name=renew-password]").inputValue(), "", "the password is cleared");
    // The new session runs 12 h from the hub's now: with the page's clock back at now, the
    // offer is gone.
    await ctx.clock.setFixedTime(Date.now());
    await p.locator("#session-banner").waitFor({ state: "hidden", timeout: 5000 });
    const held = async () => (await p.evaluate(() => window["mimamori"].beds())).reduce((/** @type {number} */ n, /** @type {any} */ b) => n + b.samples, 0);
    const before = await held();
    await waitFor(async () => (await held()) > before, 10000, "live samples over the new session");
    await ctx.close();
    log(`session ending: "${offer.slice(0, 40)}…", renewed without leaving the wall; the traces carry on`);
  }

  // ── the chart of the bed with the planted prolonged deceleration ──
  const target = beds.find((/** @type {any} */ b) => b.facility === "midwife-home-b" && b.bed === "room-2");
  assert.ok(target, "midwife-home-b room-2 is on the wall");
  await page.click(`.bed[data-stream="${target.id}"]`);
  await page.waitForSelector("canvas#chart");
  await page.waitForTimeout(1500);
  await page.screenshot({ path: join(out, "chart-live.png") });
  const decel = page.locator('.events li[data-type="prolonged"] button').first();
  await decel.waitFor({ timeout: 240000 });
  const label = await decel.textContent();
  assert.match(label ?? "", /遷延一過性徐脈/, "the deceleration is labelled in JSOG terms");
  // It says why it is prolonged: the rule that typed it, with the measured duration and the limit.
  const why = await page.locator('.events li[data-type="prolonged"] .why').first().textContent();
  const lasted = /持続 (\d+) 秒 ≥ 120 秒/.exec(why ?? "");
  assert.ok(lasted && Number(lasted[1]) >= 120, `the prolonged deceleration says why: ${why}`);
  log(`why prolonged: ${why}`);
  await decel.click();
  await page.waitForTimeout(1500);
  await page.screenshot({ path: join(out, "chart-deceleration.png") });
  log(`prolonged deceleration labelled: ${label}`);

  // The overlay is drawn where the event is: sample the canvas for the deceleration shading.
  const shaded = await page.evaluate(() => {
    const canvas = /** @type {HTMLCanvasElement} */ (document.getElementById("chart"));
    const ctx = canvas.getContext("2d");
    if (!ctx) return 0;
    const data = ctx.getImageData(0, 60, canvas.width, 1).data;
    let n = 0;
    for (let i = 0; i < data.length; i += 4) if (data[i] > 230 && data[i + 1] > 150 && data[i + 1] < 225 && data[i + 2] < 200) n++;
    return n;
  });
  assert.ok(shaded > 20, `the deceleration's shading is on the chart (${shaded} px)`);

  // A level's hover box says what the JSOG table was given, and how much signal it rests on.
  const levelHit = await waitFor(async () => {
    const hits = await page.evaluate(() => window["mimamori"].chartHits());
    return hits.find((/** @type {any} */ h) => h.kind === "classification" && h.x1 > 30);
  }, 120000, "a level on the chart");
  const box = await page.locator("canvas#chart").boundingBox();
  assert.ok(box, "the chart has a box");
  await page.mouse.move(box.x + Math.max(levelHit.x0, 0) + 10, box.y + (levelHit.y0 + levelHit.y1) / 2);
  const tip = await page.locator(".tip").textContent();
  assert.match(tip ?? "", /判定表の入力: 基線 \S+ · 基線細変動 \S+ · 一過性徐脈 \S+/, `the level's evidence: ${tip}`);
  assert.match(tip ?? "", /信号 \d+ %/, `the level's signal share: ${tip}`);
  assert.match(tip ?? "", /FIGO (正常|疑わしい|病的) ·/, `the FIGO class in Japanese: ${tip}`);
  assert.doesNotMatch(tip ?? "", /陣痛計の記録なし/, `a bed with its toco recording does not say otherwise: ${tip}`);
  await page.screenshot({ path: join(out, "chart-level-evidence.png") });
  log(`level evidence: ${tip}`);

  // ── its alert, acknowledged in the UI ──
  const firstProlonged = page.locator(".alert.open.prolonged_deceleration").first();
  await firstProlonged.waitFor({ timeout: 60000 });
  const alertId = await firstProlonged.getAttribute("data-alert");
  // By its ID from here on (another alert arriving would become "the first").
  const alert = page.locator(`.alert[data-alert="${alertId}"]`);
  // Said in the wall's language (Japanese by default), from the alert's facts: not the hub's
  // English detail.
  const alertDetail = (await alert.locator(".detail").textContent()) ?? "";
  assert.match(alertDetail, /[0-9.]+ 分(から進行中|から [0-9.]+ 分間)/, `the alert's detail in Japanese: ${alertDetail}`);
  assert.doesNotMatch(alertDetail, /deceleration|deep/, alertDetail);
  log(`alert detail: ${alertDetail}`);
  await alert.locator("input.reason").fill("CTG確認、助言済み (browser test)");
  await alert.locator("form.ack button[type=submit]").click();
  await page.waitForSelector(`.alert.done[data-alert="${alertId}"]`, { timeout: 10000 });
  const ackText = await page.locator(`.alert.done[data-alert="${alertId}"] .when`).textContent();
  assert.match(ackText ?? "", /demo/, "the acknowledgement says who");
  log(`alert ${alertId} acknowledged: ${ackText}`);

  // ── another open alert snoozed with a reason, bounded ──
  const otherId = await page.locator(".alert.open").first().getAttribute("data-alert");
  // That alert by its ID from here on: "the first open one" can become another as alerts
  // arrive, and its form would be filled while this one's is sent.
  const other = page.locator(`.alert[data-alert="${otherId}"]`);
  // The alert list is drawn again whenever any alert changes: what she has typed and chosen
  // stays (it was lost before).
  await other.locator("form.snooze select").selectOption("10");
  await other.locator("form.snooze input[name=why]").fill("帝王切開中、10分後に再確認 (browser test)");
  await page.evaluate(() => window["mimamori"].redrawAlerts());
  await page.evaluate(() => window["mimamori"].redrawWall());
  const kept = page.locator(`.alert[data-alert="${otherId}"] form.snooze`);
  assert.equal(await kept.locator("input[name=why]").inputValue(), "帝王切開中、10分後に再確認 (browser test)", "the reason survives a redraw");
  assert.equal(await kept.locator("select").inputValue(), "10", "the length survives a redraw");
  await kept.locator("button[type=submit]").click();
  await page.waitForSelector(`.alert[data-alert="${otherId}"] .delivery:has-text("一時停止中")`, { timeout: 10000 });
  log(`alert ${otherId} snoozed for 10 min`);

  {
    const admin = await browser.newContext();
    const p = await admin.newPage();
    await p.goto(url);
    const audit = await p.evaluate(async () => {
      await fetch("/api/login", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ username: "admin", password: "mimamori-demo" }) });
      return (await fetch("/api/audit")).json();
    });
    const entry = audit.entries.find((/** @type {any} */ e) => e.action === "acknowledge_alert" && e.target.includes("browser test"));
    assert.ok(audit.entries.some((/** @type {any} */ e) => e.action === "snooze_alert" && e.target.includes("browser test")), "the snooze is audited");
    assert.ok(entry, "the acknowledgement is in the audit log");
    assert.equal(entry.actor, "demo");
    assert.equal(audit.verified, true, "the audit chain verifies");
    // An admin edits the clinic-a roster in the rosters page.
    await p.goto(`${url}#/rosters`);
    await p.waitForSelector('textarea[aria-label="clinic-a"]');
    await p.fill('textarea[aria-label="clinic-a"]', JSON.stringify({ shifts: [{ start_minute: 0, end_minute: 0, people: ["clinic-a"] }] }));
    await p.locator("section.roster", { hasText: "clinic-a" }).locator("button").click();
    await p.waitForSelector("text=clinic-a", { state: "attached" });
    const rosters = await waitFor(async () => {
      const r = await p.evaluate(async () => (await fetch("/api/oncall")).json());
      return r.rosters["clinic-a"] && r;
    }, 10000, "the saved roster");
    assert.deepEqual(rosters.rosters["clinic-a"].shifts[0].people, ["clinic-a"]);
    await p.screenshot({ path: join(out, "rosters.png") });
    await admin.close();
    log("the acknowledgement is in the audit log, and the chain verifies");
  }

  // ── the centre's advice, recorded against the trace ──
  // A transfer is advised only with the bedside carer it was confirmed with: the form asks for
  // them, and the hub refuses it without.
  await page.selectOption("form.advice select[name=action]", "maternal_transport");
  assert.equal(await page.locator("form.advice input[name=confirmed_with]").evaluate((el) => /** @type {HTMLInputElement} */ (el).required), true, "a transfer asks who it was confirmed with");
  {
    const episode = await page.evaluate(async (id) => {
      const wall = await (await fetch("/api/wall")).json();
      return wall.find((/** @type {any} */ b) => b.id === id)?.episode_id;
    }, Number(/#\/bed\/(\d+)/.exec(await page.evaluate(() => location.hash))?.[1]));
    // Outside the page (the page's own console would log the refusal as an error), with
    // the page's session.
    const response = await page.request.post(`${url}api/episodes/${episode}/advice`, { data: { action: "maternal_transport", text: "unconfirmed" } });
    const refused = { status: response.status(), body: await response.json() };
    assert.equal(refused.status, 400, JSON.stringify(refused));
    assert.match(refused.body.error, /bedside carer/);
  }
  await page.fill("form.advice input[name=text]", "母体搬送を推奨 (browser test)");
  await page.fill("form.advice input[name=confirmed_with]", "佐藤助産師");
  await page.click("form.advice button[type=submit]");
  await page.waitForSelector("text=母体搬送を推奨 (browser test)", { timeout: 10000 });
  const adviceLine = await page.locator(".patient-panel li", { hasText: "browser test" }).first().textContent();
  assert.match(adviceLine ?? "", /demo: 母体搬送 — 母体搬送を推奨 \(browser test\) \(現場確認: 佐藤助産師\)$/, "the advice log says who, what, and with whom it was confirmed");
  log(`advice recorded: ${adviceLine}`);

  // ── the bedside's labour observations: recorded in the patient panel, shown in the chart's
  // header with a fever and meconium-stained liquor marked (and later on the wall's card) ──
  const labourBed = Number(/#\/bed\/(\d+)/.exec(await page.evaluate(() => location.hash))?.[1]);
  {
    // Half centimetres: the demo's own observations are whole ones.
    await page.fill("form.observation input[name=dilation_cm]", "7.5");
    await page.fill("form.observation input[name=oxytocin_mu_min]", "4");
    await page.selectOption("form.observation select[name=membranes]", "ruptured");
    await page.selectOption("form.observation select[name=liquor]", "meconium");
    await page.fill("form.observation input[name=temperature_c]", "38.3");
    await page.click("form.observation button[type=submit]");
    const line = await waitFor(async () => (await page.locator(".patient-panel ul.observations li .what").allTextContents()).find((t) => t.includes("子宮口 7.5 cm")), 10000, "the observation in the panel");
    assert.match(line, /demo: 子宮口 7\.5 cm · オキシトシン 4 mU\/min · 卵膜 破水 · 羊水 混濁（胎便） · 体温 38\.3 °C$/, `the observation's line: ${line}`);
    const header = await waitFor(async () => {
      const text = await page.locator("#chart-labour").textContent();
      return text?.includes("子宮口 7.5 cm") && text;
    }, 5000, "the labour context in the chart's header");
    const alarms = await page.locator("#chart-labour .alarm").allTextContents();
    assert.deepEqual(alarms, ["羊水 混濁（胎便）", "体温 38.3 °C"], `marked in the header: ${header}`);
    const title = await page.locator('#chart-labour [data-key="temperature_c"]').getAttribute("title");
    assert.match(title ?? "", /発熱.*記録\)?/, `the temperature's title: ${title}`);
    // A later observation that records only the dilation leaves the rest standing.
    await page.fill("form.observation input[name=dilation_cm]", "8.5");
    await page.click("form.observation button[type=submit]");
    const later = await waitFor(async () => {
      const text = await page.locator("#chart-labour").textContent();
      return text?.includes("子宮口 8.5 cm") && text;
    }, 10000, "the newer dilation in the header");
    assert.ok(later.includes("体温 38.3 °C") && later.includes("オキシトシン 4 mU/min"), later);
    log(`labour observations: header "${later}"`);
    // An examination of 20 minutes ago written up now: listed at its time, saying when it was
    // recorded, and the newer 8.5 cm still stands in the header.
    const twentyAgo = await page.evaluate(() => {
      const at = new Date(Date.now() - 20 * 60000);
      return `${String(at.getHours()).padStart(2, "0")}:${String(at.getMinutes()).padStart(2, "0")}`;
    });
    await page.fill("form.observation input[name=dilation_cm]", "6.5");
    await page.fill("form.observation input[name=observed_at]", twentyAgo);
    await page.click("form.observation button[type=submit]");
    const backDated = await waitFor(async () => (await page.locator(".patient-panel ul.observations li .what").allTextContents()).find((t) => t.includes("子宮口 6.5 cm")), 10000, "the examination written up afterwards");
    assert.match(backDated, new RegExp(`^${twentyAgo}:00 demo: 子宮口 6\\.5 cm \\(\\d\\d:\\d\\d:\\d\\d 記録\\)$`), `listed at its time: ${backDated}`);
    await page.waitForTimeout(2500); // a wall poll
    const still = await page.locator("#chart-labour").textContent();
    assert.ok(still?.includes("子宮口 8.5 cm") && !still.includes("6.5"), `the newer dilation stands: ${still}`);
    log(`an examination written up afterwards: "${backDated}"`);
    // The 8.5 cm was entered in error: withdrawn with a reason, its line stays struck through,
    // and the header goes back to the 7.5 cm before it.
    const wrong = page.locator(".patient-panel ul.observations li", { hasText: "子宮口 8.5 cm" });
    await wrong.locator("button.withdraw").click();
    await wrong.locator("form.withdraw input[name=reason]").fill("別の患者の値");
    await wrong.locator("form.withdraw button[type=submit]").click();
    const back = await waitFor(async () => {
      const text = await page.locator("#chart-labour").textContent();
      return text?.includes("子宮口 7.5 cm") && text;
    }, 10000, "the dilation before the withdrawn one in the header");
    const struck = await waitFor(async () => (await page.locator(".patient-panel ul.observations li.retracted").allTextContents()).find((t) => t.includes("8.5 cm")), 5000, "the withdrawn line");
    assert.match(struck, /（誤入力として取消: 別の患者の値 — demo）$/, struck);
    log(`withdrawn as entered in error: "${struck}"; the header now "${back.slice(0, 40)}…"`);
    // This bed's monitor plays 10× faster than real time: its data run ahead of the hub's clock,
    // and the line says so rather than a negative delay.
    const asOf = await waitFor(async () => (await page.locator("#chart-asof").textContent()) || null, 5000, "the data-as-of words");
    assert.match(asOf, /^データ時刻 \d\d:\d\d:\d\d（ハブの時計より先/, `a replay at 10×: ${asOf}`);
  }

  // ── print / PDF ──
  await page.click("text=印刷 / PDF");
  await page.waitForSelector(".print-sheet img", { state: "attached" });
  const width = await page.evaluate(() => /** @type {HTMLElement} */ (document.querySelector(".print-sheet img")).style.width);
  // The sheet lists the printed span's findings with what they rest on.
  const printedRows = await page.locator(".print-findings tr").allTextContents();
  assert.ok(printedRows.some((r) => /遷延一過性徐脈.*持続 \d+ 秒 ≥ 120 秒/.test(r)), `the printed findings: ${printedRows.join(" | ")}`);
  assert.ok(printedRows.some((r) => /レベル \d.*判定表の入力/.test(r)), `the printed findings: ${printedRows.join(" | ")}`);
  await page.emulateMedia({ media: "print" });
  await page.screenshot({ path: join(out, "chart-print.png"), fullPage: true });
  await page.pdf({ path: join(out, "chart.pdf"), landscape: true, printBackground: true });
  await page.emulateMedia({ media: "screen" });
  assert.ok(statSync(join(out, "chart.pdf")).size > 20000, "the chart printed to PDF");
  assert.match(width, /cm$/, "the printed chart is sized in centimetres (true scale)");
  log(`printed: target/browser/chart.pdf, image ${width} wide`);

  // ── twins (the demo's midwife-home-b room-1: a Doppler transducer on FHR1 and one on FHR2):
  // each fetus is analysed on its own, and the chart's level band has a labelled row for each ──
  {
    const twins = beds.find((/** @type {any} */ b) => b.facility === "midwife-home-b" && b.bed === "room-1");
    assert.ok(twins, "midwife-home-b room-1 is on the wall");
    // The start of a window both twins have a level for.
    const both = await waitFor(async () => {
      const levels = await page.evaluate(async (id) => {
        const r = await fetch(`/api/streams/${id}/findings?kind=classification`);
        return r.ok ? (await r.json()).findings : [];
      }, twins.id);
      lastSeen = levels.map((/** @type {any} */ f) => [f.fetal_channel, f.start_s]);
      const of = (/** @type {string} */ fetus) => new Set(levels.filter((/** @type {any} */ f) => f.fetal_channel === fetus).map((/** @type {any} */ f) => f.start_s));
      const twinB = of("fhr2");
      const start = [...of("fhr1")].find((s) => twinB.has(s));
      return start === undefined ? null : { start }; // (a start of 0 is found, not falsy)
    }, 120000, "levels of both twins for one window");
    const tips = await levelTips(page, url, twins.id, both.start);
    for (const fetus of ["FHR1", "FHR2"]) {
      assert.ok(tips.some((t) => t.startsWith(`${fetus} · レベル`)), `a level of ${fetus}: ${JSON.stringify(tips)}`);
    }
    const rows = new Set((await page.evaluate(() => window["mimamori"].chartHits()))
      .filter((/** @type {any} */ h) => h.kind === "classification").map((/** @type {any} */ h) => h.y0));
    assert.equal(rows.size, 2, `one row of levels per twin: ${[...rows]}`);
    await page.screenshot({ path: join(out, "chart-twins.png") });
    log(`twins: ${tips.filter((t) => /^FHR\d/.test(t)).map((t) => t.slice(0, 14)).join(" | ")}`);
  }

  // ── the same twins' second transducer slips onto the first twin (from 5 to 15 minutes into
  // the stream): the cross-channel check tells it, a cross-channel alert is raised, and the
  // chart marks the span in a row under the levels ──
  {
    const twins = beds.find((/** @type {any} */ b) => b.facility === "midwife-home-b" && b.bed === "room-1");
    const began = await waitFor(async () => {
      const found = await page.evaluate(async (id) => {
        const r = await fetch(`/api/streams/${id}/findings?kind=cross_channel_under_way`);
        return r.ok ? (await r.json()).findings : [];
      }, twins.id);
      lastSeen = found;
      return found.find((/** @type {any} */ f) => f.source !== "monitor") ?? null;
    }, 180000, "the twins' channels told as one heart by the analysis");
    assert.deepEqual(began.channels, ["fhr1", "fhr2"]);
    // Its first coinciding 5-minute window holds the slip's start (300 s into the stream).
    assert.ok(began.start_s >= 0 && began.start_s <= 300 && began.start_s + 300 > 300, `it begins with the slip: ${began.start_s}`);
    const alert = await waitFor(async () => {
      const alerts = await page.evaluate(async () => (await (await fetch("/api/alerts")).json()).alerts);
      return alerts.find((/** @type {any} */ a) => a.kind?.kind === "cross_channel" && a.subject?.stream?.id === twins.id);
    }, 10000, "a cross-channel alert on the twins' bed");
    assert.equal(alert.facts.channels, "FHR1 = FHR2");
    await page.goto(`${url}#/wall`);
    await page.waitForSelector(".bed");
    await page.goto(`${url}#/bed/${twins.id}?at=${Math.floor(began.start_s)}`);
    await page.waitForSelector("canvas#chart");
    const band = await waitFor(async () => {
      const hits = await page.evaluate(() => window["mimamori"].chartHits());
      return hits.find((/** @type {any} */ h) => String(h.kind).startsWith("cross_channel") && h.source !== "monitor");
    }, 10000, "the cross-channel band on the chart");
    assert.ok(band.y1 - band.y0 <= 18 && band.x1 - band.x0 > 50, `a row of its own along the span: ${JSON.stringify(band)}`);
    const box = await page.locator("canvas#chart").boundingBox();
    assert.ok(box);
    await page.mouse.move(box.x + Math.max(band.x0, 0) + 20, box.y + (band.y0 + band.y1) / 2);
    const tip = (await page.locator(".tip").textContent()) ?? "";
    assert.match(tip, /^FHR1 = FHR2 胎児心拍 2 チャネル一致/, `its hover box: ${tip}`);
    const item = page.locator(`.alerts .alert.cross_channel[data-alert="${alert.id}"]`);
    await item.waitFor({ timeout: 10000 });
    const panel = await item.textContent();
    assert.match(panel ?? "", /FHR1 = FHR2 が [\d.]+ 分から一致/, `the alert in the panel: ${panel}`);
    // The monitor's own cross-channel verification flags the same slip (Series 50 status bit
    // 0, through the bridge): its own alert, and its own row on the chart.
    const monitorAlert = await waitFor(async () => {
      const alerts = await page.evaluate(async () => (await (await fetch("/api/alerts")).json()).alerts);
      return alerts.find((/** @type {any} */ a) => a.kind?.kind === "monitor_coincidence" && a.subject?.stream?.id === twins.id);
    }, 30000, "the monitor's coincidence alert on the twins' bed");
    assert.equal(monitorAlert.facts.start_min, 5, `the monitor flags the slip from 5 min: ${JSON.stringify(monitorAlert.facts)}`);
    const rows = await waitFor(async () => {
      const hits = (await page.evaluate(() => window["mimamori"].chartHits())).filter((/** @type {any} */ h) => String(h.kind).startsWith("cross_channel"));
      const ys = new Set(hits.map((/** @type {any} */ h) => h.y0));
      return ys.size === 2 && ys;
    }, 10000, "a row each for the analysis's check and the monitor's");
    await page.screenshot({ path: join(out, "chart-cross-channel.png") });
    log(`cross-channel: from ${began.start_s} s; alert "${(panel ?? "").slice(0, 60)}…"; tip "${tip.slice(0, 40)}…"; the monitor's from ${monitorAlert.facts.start_min} min, rows at ${[...rows]} px`);
  }

  // ── how current a trace is: the demo's Avalon bed is polled in real time at any speed, so
  // its chart's line gives the newest sample's time and a delay of a few seconds ──
  {
    const avalon = (await page.evaluate(async () => (await fetch("/api/wall")).json())).find((/** @type {any} */ b) => String(b.device?.protocol).toLowerCase() === "avalon");
    assert.ok(avalon, "the demo has an Avalon bed");
    await page.goto(`${url}#/bed/${avalon.id}`);
    await page.waitForSelector("canvas#chart");
    const asOf = await waitFor(async () => {
      const text = (await page.locator("#chart-asof").textContent()) ?? "";
      return /遅延 \d+ 秒/.test(text) && text;
    }, 10000, "the Avalon bed's data-as-of line");
    const lag = Number(/遅延 (\d+) 秒/.exec(asOf)?.[1]);
    assert.match(asOf, /^データ時刻 \d\d:\d\d:\d\d（遅延 \d+ 秒）$/, asOf);
    assert.ok(lag <= 5, `a live trace is seconds behind: ${asOf}`);
    log(`data as of: "${asOf}" on the Avalon bed ${avalon.id}`);
  }

  // ── a bridge stops (during a deceleration): its beds go stale within 10 s ──
  await page.goto(`${url}#/wall`);
  await page.waitForSelector(".bed");
  await page.waitForTimeout(1500);
  // The card of the bed given labour observations above shows its dilation and its alarms.
  {
    const card = page.locator(`.bed[data-stream="${labourBed}"] .labour`);
    const text = await waitFor(async () => { const t = await card.textContent(); return t?.includes("子宮口") && t; }, 10000, "the labour context on the card");
    assert.equal(text, "子宮口 7.5 cm · 羊水混濁 · 体温 38.3 °C");
    assert.equal(await card.locator(".alarm").count(), 2);
    log(`labour context on bed ${labourBed}'s card: "${text}"`);
  }
  // A card's level is marked indicative exactly when its window had < 80 % trusted signal.
  {
    const shown = await page.evaluate(() => window["mimamori"].beds());
    assert.ok(shown.some((/** @type {any} */ b) => b.signalPercent !== null), "some beds have a level with its evidence");
    const rated = shown.filter((/** @type {any} */ b) => b.signalPercent !== null);
    for (const b of rated) assert.equal(b.indicative, b.signalPercent < 80, `bed ${b.id}: ${JSON.stringify(b)}`);
    log(`levels with evidence on ${rated.length} cards, ${rated.filter((/** @type {any} */ b) => b.indicative).length} indicative (< 80 % signal)`);
  }

  // The bridge is killed in the middle of a deceleration: the programme's prolonged one
  // (200 s), under way for 1:40–2:19, so that it is still under way when the data stops.
  const during = await waitFor(async () => {
    const beds = await page.evaluate(() => window["mimamori"].beds());
    lastSeen = beds.filter((/** @type {any} */ b) => b.facility === "midwife-home-b").map((/** @type {any} */ b) => b.underWay);
    return beds.find((/** @type {any} */ b) => b.facility === "midwife-home-b" && b.state === "live" && /↓ (1:[45]\d|2:[01]\d) −/.test(b.underWay));
  }, 240000, "a long deceleration under way on one of midwife-home-b's beds");
  const killedAt = Date.now();
  process.kill(pids["midwife-home-b"], "SIGKILL");
  await waitFor(async () => {
    const states = await page.evaluate(() => window["mimamori"].beds().filter((/** @type {any} */ b) => b.facility === "midwife-home-b").map((/** @type {any} */ b) => b.state));
    return states.length === 2 && states.every((s) => s === "stale");
  }, 10000, "midwife-home-b's beds to turn stale");
  result.stale_after_s = (Date.now() - killedAt) / 1000;
  const others = await page.evaluate(() => window["mimamori"].beds().filter((/** @type {any} */ b) => b.facility !== "midwife-home-b").map((/** @type {any} */ b) => b.state));
  assert.ok(others.every((s) => s !== "stale"), `other beds stay live: ${others}`);
  await page.waitForTimeout(1000);
  await page.screenshot({ path: join(out, "wall-stale.png") });
  log(`midwife-home-b's beds stale ${result.stale_after_s.toFixed(1)} s after its bridge was killed`);
  {
    // Its card keeps the deceleration, marked as under way when the data stopped (not as one
    // still going on), and the hub's stall alert for that stream says so, as clinical.
    const after = (await page.evaluate(() => window["mimamori"].beds())).find((/** @type {any} */ b) => b.id === during.id);
    assert.ok(after.stoppedDecelerating, `the stale card marks the deceleration at the stop: ${JSON.stringify(after)}`);
    assert.match(after.underWay, /↓ \d+:\d\d −\d+ · 途絶時$/, `the stale card's words: ${after.underWay}`);
    const stalled = await waitFor(async () => {
      const alerts = await page.evaluate(async () => (await (await fetch("/api/alerts")).json()).alerts);
      return alerts.find((/** @type {any} */ a) => a.subject?.stream?.id === during.id && String(a.kind?.kind).includes("stall"));
    }, 45000, "the stall alert of the bed stopped in a deceleration");
    assert.equal(stalled.kind.kind, "stalled_in_deceleration", JSON.stringify(stalled));
    assert.ok(stalled.facts.depth_bpm > 0 && stalled.facts.minutes >= 1.5, JSON.stringify(stalled.facts));
    const shown = await waitFor(async () => {
      const text = (await page.locator(`.alert[data-alert="${stalled.id}"]`).allTextContents()).join(" ");
      return text.includes("一過性徐脈の進行中にデータ途絶") && text.includes("途絶時に一過性徐脈が進行中") && text;
    }, 5000, "the alert in the panel, in Japanese");
    // Still marked past the 40 s after which a deceleration under way lapses on a live card.
    await page.waitForTimeout(Math.max(0, killedAt + 45000 - Date.now()));
    const later = (await page.evaluate(() => window["mimamori"].beds())).find((/** @type {any} */ b) => b.id === during.id);
    assert.ok(later.stoppedDecelerating && later.underWay === after.underWay, `45 s after the stop: ${JSON.stringify(later)}`);
    log(`bridge killed during "${during.underWay}" on bed ${during.id}: the card shows "${after.underWay}", the alert "${shown.slice(0, 70)}…"`);

    // ── the monitoring of a bed ends (the labour over): not while its monitor still sends;
    // with a reason, the bed leaves the wall and its stall alert resolves ──
    const live = (await page.evaluate(() => window["mimamori"].beds())).find((/** @type {any} */ b) => b.state === "live");
    const liveBed = live.id;
    // The chart of a bed, once it is on the page (the hash changes first, the view after).
    const openChart = async (/** @type {any} */ bed) => {
      await page.goto(`${url}#/bed/${bed.id}`);
      await page.locator(".chart-head h2", { hasText: `${bed.facility} · ${bed.bed}` }).waitFor({ timeout: 10000 });
    };
    await openChart(live);
    await page.fill("form.end-monitoring input[name=reason]", "分娩終了");
    await page.click("form.end-monitoring button[type=submit]");
    const refused = await waitFor(async () => (await page.locator("form.end-monitoring .error").textContent()) || null, 5000, "the refusal for a bed still sending");
    assert.match(refused, /まだデータが届いています/, refused);
    await openChart(during);
    await page.fill("form.end-monitoring input[name=reason]", "分娩終了（ブラウザテスト）");
    await page.click("form.end-monitoring button[type=submit]");
    await page.waitForFunction(() => location.hash === "#/wall", null, { timeout: 10000 });
    await page.waitForTimeout(2500); // a wall poll
    const ended = (await page.evaluate(() => window["mimamori"].beds())).find((/** @type {any} */ b) => b.id === during.id);
    assert.ok(ended?.ended, `bed ${during.id} ended: ${JSON.stringify(ended)}`);
    assert.equal(await page.locator(`.bed[data-stream="${during.id}"]`).count(), 0, "no card for the ended bed");
    assert.equal(await page.locator(`.bed[data-stream="${liveBed}"]`).count(), 1, "the live bed's card stays");
    const resolved = (await page.evaluate(async () => (await (await fetch("/api/alerts")).json()).alerts)).find((/** @type {any} */ a) => a.id === stalled.id);
    assert.ok(resolved?.resolved_ms, `its stall alert resolved: ${JSON.stringify(resolved)}`);
    // Its chart is still there, from the wall's list of recently ended beds.
    // (The wall draws itself again as its beds change, so a choice made on a select just
    // replaced is made again.)
    const endedLabel = await waitFor(async () => {
      if (!(await page.evaluate(() => location.hash)).startsWith(`#/bed/${during.id}`)) {
        await page.selectOption("select.ended", { value: String(during.id) }, { timeout: 5000 }).catch(() => {});
        return null;
      }
      const label = page.locator(".chart-head .ended");
      return (await label.count()) ? await label.textContent() : null;
    }, 20000, "the ended bed's chart");
    assert.match(endedLabel, /^監視終了 \d\d:\d\d:\d\d$/, endedLabel);
    assert.equal(await page.locator("form.end-monitoring").count(), 0, "no second ending");
    log(`monitoring ended on bed ${during.id}: off the wall, stall alert ${stalled.id} resolved, its chart says "${endedLabel}"; a live bed refused: "${refused}"`);
    await page.goto(`${url}#/wall`);
    await page.waitForSelector(".bed");
  }

  // ── a deceleration under way shows on its bed's card (the programme's decelerations, once
  // a stream has the 5 minutes its reference level needs), minutes before its final finding ──
  {
    // Not one of midwife-home-b's beds, stale since its bridge was killed above: their last
    // picture stays on the card, and their charts get nothing new.
    const card = page.locator(".bed.decelerating:not([data-state=stale])").first();
    await card.waitFor({ timeout: 90000 });
    const text = (await card.locator(".underway").textContent()) ?? "";
    assert.match(text, /^↓ \d+:\d\d −\d+$/, `the card shows how long and how deep: ${text}`);
    const seen = await page.evaluate(() => window["mimamori"].underWaySeen());
    await card.screenshot({ path: join(out, "bed-deceleration-under-way.png") });
    log(`deceleration under way on a card: "${text}" (beds so far: ${seen.join(" ")})`);
    // One that has lasted 1:45 (the programme's prolonged one, over a minute to go; its
    // 90-s late one never lasts that long, and one about to end would leave the header empty
    // before the chart opens) is on its chart's header too.
    const long = page.locator(".bed.decelerating:not([data-state=stale])", { has: page.locator(".underway", { hasText: /^↓ (1:4[5-9]|1:5\d|[2-9]:\d\d)/ }) }).first();
    await long.waitFor({ timeout: 120000 });
    await long.click();
    await page.waitForSelector("canvas#chart");
    await waitFor(async () => ((await page.locator("#chart-underway").textContent()) ?? "") !== "", 5000, "the deceleration under way in the chart's header");
    const header = await page.locator("#chart-underway").textContent();
    assert.match(header ?? "", /一過性徐脈 進行中 ↓ \d+:\d\d −\d+/, `chart header: ${header}`);
    await page.screenshot({ path: join(out, "chart-deceleration-under-way.png") });
    log(`and in its chart's header: "${header}"`);
  }

  // ── false signal on the MHR channel (the programme's 40 s of halved maternal rate): its
  // chart lists it as MHR and marks it along the foot of the strip, not over the fetal trace ──
  {
    const withMhrFalse = await waitFor(() => page.evaluate(async () => {
      for (const bed of window["mimamori"].beds()) {
        const r = await fetch(`/api/streams/${bed.id}/findings?kind=false_signal`);
        if (!r.ok) continue;
        const body = await r.json();
        if (body.findings.some((/** @type {any} */ f) => f.channel === "mhr")) return bed.id;
      }
      return null;
    }), 90000, "a bed with false signal on its MHR channel");
    await page.goto(`${url}#/wall`);
    await page.waitForSelector(".bed");
    await page.click(`.bed[data-stream="${withMhrFalse}"]`);
    await page.waitForSelector("canvas#chart");
    const item = page.locator(".events li", { hasText: "偽信号 (MHR)" }).first();
    await item.waitFor({ timeout: 10000 });
    await item.locator("button").click();
    await page.waitForTimeout(1500);
    const band = await waitFor(async () => {
      const hits = await page.evaluate(() => window["mimamori"].chartHits());
      return hits.find((/** @type {any} */ h) => h.kind === "false_signal" && h.channel === "mhr");
    }, 10000, "the MHR band on the chart");
    assert.ok(band.y1 - band.y0 <= 10, `a thin band, not the whole strip: ${JSON.stringify(band)}`);
    await page.screenshot({ path: join(out, "chart-mhr-false-signal.png") });
    log(`false signal on MHR: "${await item.textContent()}", band ${band.y0}–${band.y1} px`);
  }

  // ── a bed with no toco applied (the demo's clinic-c bed-1): its levels say the toco is not
  // recording, so their count of contractions says nothing ──
  {
    const noToco = beds.find((/** @type {any} */ b) => b.facility === "clinic-c" && b.bed === "bed-1");
    assert.ok(noToco, "clinic-c bed-1 is on the wall");
    const level = await waitForLevel(page, noToco.id, (e) => e.toco_not_recording === true, "a level of clinic-c bed-1 with its toco not recording");
    const tips = await levelTips(page, url, noToco.id, level.start_s);
    const tip = tips.find((t) => /子宮収縮 0 回 · 陣痛計の記録なし \(子宮収縮は不明\)/.test(t));
    assert.ok(tip, `a level says the toco was not recording: ${JSON.stringify(tips)}`);
    await page.screenshot({ path: join(out, "chart-no-toco.png") });
    log(`no toco: "${tip}"`);
  }

  // ── a level resting on a band its window could not measure (clinic-a bed-2 replays CTU-UHB
  // 1158, whose first 10 minutes are 15 % recorded): its hover box says the normal baseline was
  // assumed ──
  {
    const poor = beds.find((/** @type {any} */ b) => b.facility === "clinic-a" && b.bed === "bed-2");
    assert.ok(poor, "clinic-a bed-2 is on the wall");
    const level = await waitForLevel(page, poor.id, (e) => e.baseline_source === "assumed", "a level of clinic-a bed-2 on an assumed baseline");
    const tips = await levelTips(page, url, poor.id, level.start_s);
    const tip = tips.find((t) => /基線 正常脈 \(判定困難: 正常と仮定\)/.test(t));
    assert.ok(tip, `a level says its baseline was assumed: ${JSON.stringify(tips)}`);
    await page.screenshot({ path: join(out, "chart-band-assumed.png") });
    log(`band assumed: "${tip}"`);
  }

  // The alarm sounds through one audio context however often it sounds (it repeats every
  // 15 s while an alert is unacknowledged; one each would pile up for days).
  {
    const sound = page.locator("label.sound input");
    await sound.check();
    for (let i = 0; i < 5; i++) await page.evaluate(() => window["mimamori"].beep());
    const made = await page.evaluate(() => window["audioContextsMade"] ?? 0);
    await sound.uncheck();
    assert.equal(made, 1, "one audio context for five alarms");
    log("five alarms sounded through one audio context");
  }

  // The wall forgets what it no longer shows: each bed holds at most its last minute and the
  // minute being filled (the bed whose chart is open keeps what the chart shows), and the
  // older minutes are gone from memory.
  {
    const chart = await page.evaluate(() => window["mimamori"].chartStream());
    const held = (await page.evaluate(() => window["mimamori"].beds())).filter((/** @type {any} */ b) => b.id !== chart);
    for (const b of held) assert.ok(b.samples <= 2 * 240 + 8 && b.chunks <= 3, `bed ${b.id} holds ${b.samples} samples in ${b.chunks} minutes`);
    const forgot = held.filter((/** @type {any} */ b) => b.end > b.samples + 240);
    assert.ok(forgot.length > 0, `some bed has run long enough to forget minutes: ${JSON.stringify(held.map((/** @type {any} */ b) => [b.end, b.samples]))}`);
    log(`the wall holds at most ${Math.max(...held.map((/** @type {any} */ b) => b.samples))} samples a bed with a minute kept; ${forgot.length} beds forgot older minutes`);
  }

  // ── the phone page ──
  {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    const p = await phone.newPage();
    await p.goto(url);
    await p.fill("input[name=username]", "clinic-a");
    await p.fill("input[name=password]", "mimamori-demo");
    await p.click("button[type=submit]");
    await p.goto(`${url}#/oncall`);
    await p.waitForSelector(".mini-beds li");
    await p.screenshot({ path: join(out, "oncall-phone.png") });
    // The service worker shows push notifications in the language it was registered with; a
    // switch of language registers it again (as subscribing would, without a push service).
    const workerUrl = () => p.evaluate(async () => {
      const r = await navigator.serviceWorker.getRegistration("/");
      const w = r && (r.installing ?? r.waiting ?? r.active);
      return w ? new URL(w.scriptURL).search : null;
    });
    await p.evaluate(() => navigator.serviceWorker.register("/sw.js?lang=ja", { scope: "/" }));
    assert.equal(await workerUrl(), "?lang=ja");
    await p.click("button.lang");
    await waitFor(async () => (await workerUrl()) === "?lang=en", 10000, "the worker registered again in English");
    log("the push worker follows the language: ?lang=ja, then ?lang=en");
    await phone.close();
  }

  // The one expected failure: asking who is signed in before anyone is.
  // (The 409 is the hub refusing to end the live bed's monitoring above, as it should.)
  assert.deepEqual(problems.filter((p) => !p.includes("status of 401") && !p.includes("status of 409")), [], "no script errors in the page");
  result.passed = true;
  log("all viewer checks passed");
} finally {
  writeFileSync(join(out, "result.json"), JSON.stringify(result, null, 2));
  writeFileSync(join(out, "demo.log"), demoOut);
  await browser.close();
  stopDemo();
}
