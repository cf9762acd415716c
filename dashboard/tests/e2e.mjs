// End-to-end test of the built dashboard in headless Chromium, driven by playwright-core.
//
//   node dashboard/tests/e2e.mjs [DIST_DIR]        (default: target/dashboard-dist)
//
// Serves DIST_DIR on 127.0.0.1 (a free port) with python3's http.server and, through the page's
// real controls (found by their accessible names and test ids, the knobs and tabs operated by
// keyboard):
//   - simulation mode: sets 64 writers, checks that the durable LSN advances and that fsyncs
//     carry more than one record each, measures frame times with requestAnimationFrame (median,
//     p95, fps: printed, and bounded), pauses and single-steps from the keyboard, and saves
//     screenshots (1280x800 and the whole page);
//   - live mode (a real OPFS log through walden-wasm), reached with the arrow keys on the tabs:
//     opens the log, starts 16 writers, checks that commits are acknowledged and flushes carry
//     more than one record, measures frame times while they run, lists the records, crashes the
//     worker mid-batch (tearing its last write), reopens it and checks that every acknowledged
//     record survived and the torn tail was cut off, then reloads the page and checks the
//     records are still there and a clean reopen cuts nothing; screenshots of it too;
//   - fails on any console error or uncaught page error.
// Screenshots go to target/screenshots/ (override with SCREENSHOT_DIR). Every wait is bounded;
// the server and the browser are stopped on exit. Exit status 0 only if every check passed.
//
// Environment: CHROMIUM (default /usr/bin/chromium), FRAME_SECONDS (default 4),
// FRAME_MEDIAN_MS_MAX (default 50: the loosest bound that still catches a page that cannot
// animate; the figures themselves are what to report).

import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(path.join(ROOT, 'tools/package.json'));
const { chromium } = require('playwright-core');

const DIST = path.resolve(process.argv[2] ?? path.join(ROOT, 'target/dashboard-dist'));
const SCREENSHOT_DIR = process.env.SCREENSHOT_DIR ?? path.join(ROOT, 'target/screenshots');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const FRAME_SECONDS = Number(process.env.FRAME_SECONDS ?? 4);
const FRAME_MEDIAN_MS_MAX = Number(process.env.FRAME_MEDIAN_MS_MAX ?? 50);
const VIEWPORT = { width: 1280, height: 800 };
// Flags from /work/shared/TOOLCHAIN.md: no sandbox as root, and no background traffic.
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
  '--no-default-browser-check',
];

const started = Date.now();
const say = (...parts) => console.log(`e2e [${((Date.now() - started) / 1000).toFixed(1)}s]:`, ...parts);
class Failure extends Error {}
const check = (ok, message) => {
  if (!ok) throw new Failure(message);
  say(`ok: ${message}`);
};

/** A free TCP port on 127.0.0.1, chosen by the kernel. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Starts python3's http.server on DIST and waits (at most 15 s) until it answers. */
async function serve(port) {
  const child = spawn('python3', ['-m', 'http.server', '--bind', '127.0.0.1', '--directory', DIST, String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr.on('data', (chunk) => {
    log = (log + chunk).slice(-4000);
  });
  const url = `http://127.0.0.1:${port}/`;
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Failure(`http.server exited (${child.exitCode}): ${log}`);
    try {
      const response = await fetch(url);
      if (response.ok) return { child, url };
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  child.kill();
  throw new Failure(`http.server on ${url} did not answer within 15 s: ${log}`);
}

/** The `data-value` of the element with `data-testid=id`, as a number (NaN if empty). */
async function valueOf(page, id) {
  const raw = await page.getByTestId(id).getAttribute('data-value', { timeout: 5_000 });
  return raw === null || raw === '' ? Number.NaN : Number(raw);
}

/** Polls `probe` until it returns true, at most `ms`; returns whether it did. */
async function eventually(ms, probe) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await probe()) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return probe();
}

/** Frame times over `seconds` of requestAnimationFrame: their median, p95 and mean fps. */
async function measureFrames(page, seconds) {
  const deltas = await page.evaluate(
    (ms) =>
      new Promise((resolve) => {
        const times = [];
        const start = performance.now();
        const frame = (now) => {
          times.push(now);
          if (now - start < ms) requestAnimationFrame(frame);
          else resolve(times.slice(1).map((t, i) => t - times[i]));
        };
        requestAnimationFrame(frame);
      }),
    seconds * 1000,
  );
  const sorted = [...deltas].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.round(q * (sorted.length - 1)))];
  const total = deltas.reduce((sum, d) => sum + d, 0);
  return {
    frames: deltas.length,
    medianMs: at(0.5),
    p95Ms: at(0.95),
    maxMs: sorted[sorted.length - 1],
    fps: deltas.length / (total / 1000),
  };
}

async function simulationMode(page) {
  const writers = page.getByRole('slider', { name: 'Writers', exact: true });
  await writers.focus();
  await page.keyboard.press('End');
  check((await writers.getAttribute('aria-valuetext')) === '64', 'the Writers slider reads 64 after End');
  const lanes = await page.getByRole('tabpanel', { name: 'Simulation' }).locator('.wd-lanes-svg g').count();
  check(lanes === 64, `64 writer lanes are drawn (found ${lanes})`);

  const durable0 = await valueOf(page, 'durable-lsn');
  const advanced = await eventually(8_000, async () => (await valueOf(page, 'durable-lsn')) > durable0);
  const durable1 = await valueOf(page, 'durable-lsn');
  check(advanced, `the durable LSN advances (${durable0} -> ${durable1})`);
  const perFsyncOk = await eventually(8_000, async () => (await valueOf(page, 'records-per-fsync')) > 1);
  const perFsync = await valueOf(page, 'records-per-fsync');
  check(perFsyncOk, `records per fsync exceed 1 with 64 writers (${perFsync.toFixed(2)})`);

  // Let the rate charts fill a little at a faster speed, then measure frames at 64 writers.
  await page.getByRole('combobox', { name: 'Speed' }).selectOption({ label: '20 ms per second' });
  await page.waitForTimeout(1_500);
  const frames = await measureFrames(page, FRAME_SECONDS);
  say(
    `frame times at 64 writers over ${FRAME_SECONDS}s: ${frames.frames} frames, ` +
      `median ${frames.medianMs.toFixed(2)} ms, p95 ${frames.p95Ms.toFixed(2)} ms, ` +
      `max ${frames.maxMs.toFixed(2)} ms, ${frames.fps.toFixed(1)} fps`,
  );
  check(frames.medianMs <= FRAME_MEDIAN_MS_MAX, `median frame time ${frames.medianMs.toFixed(2)} ms <= ${FRAME_MEDIAN_MS_MAX} ms`);
  const commitsPerS = await valueOf(page, 'sim-rate-commits-per-s');
  const fsyncsPerS = await valueOf(page, 'sim-rate-fsyncs-per-s');
  check(commitsPerS > fsyncsPerS && fsyncsPerS > 0, `the rate charts show commits/s (${commitsPerS}) above fsyncs/s (${fsyncsPerS})`);
  const histogramBars = await page.locator('[data-testid=sim-latency-histogram] .wd-hist-bars').getAttribute('d');
  check((histogramBars ?? '').includes('M'), 'the latency histogram draws bars');

  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const shot = path.join(SCREENSHOT_DIR, 'simulation.png');
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: shot });
  const full = path.join(SCREENSHOT_DIR, 'simulation-full.png');
  await page.screenshot({ path: full, fullPage: true });
  say(`screenshots: ${path.relative(ROOT, shot)} (1280x800), ${path.relative(ROOT, full)} (whole page)`);

  // Pause and single-step, from the keyboard only.
  const playPause = page.getByTestId('play-pause');
  await playPause.focus();
  await page.keyboard.press('Space');
  check((await playPause.getAttribute('aria-pressed')) === 'false', 'Space on Pause pauses');
  const fsyncs0 = await valueOf(page, 'fsyncs');
  const commits0 = await valueOf(page, 'commits');
  await page.keyboard.press('Tab'); // to Step, enabled while paused
  // Each Enter advances to the next instant at which anything happens (one writer's append,
  // a drain, ...): with 64 writers a commit can be many steps away, and a loaded CI machine
  // answers each press slowly (it failed once after 5 s under load and passed alone), so the
  // wait is generous.
  const stepped = await eventually(20_000, async () => {
    await page.keyboard.press('Enter');
    return (await valueOf(page, 'commits')) > commits0;
  });
  check(stepped, 'Enter on Step advances the paused simulation to its next commit');
  check((await valueOf(page, 'fsyncs')) >= fsyncs0, 'stepping never loses an fsync');
  await playPause.focus();
  await page.keyboard.press('Space');
  check((await playPause.getAttribute('aria-pressed')) === 'true', 'Space on Play plays again');
  return frames;
}

/** Clicks the button with `data-testid=id` once it is enabled. */
async function press(page, id) {
  const button = page.getByTestId(id);
  await button.waitFor();
  await eventually(10_000, async () => button.isEnabled());
  await button.click();
}

/** Opens the live log and waits until it is open. */
async function openLive(page) {
  await press(page, 'live-open');
  const open = await eventually(20_000, async () => /is open/.test(await page.getByTestId('live-phase').textContent()));
  check(open, `the live log opens (${await page.getByTestId('live-phase').textContent()})`);
}

/** Reads the live log's records; their count. */
async function readRecords(page) {
  const before = await page.getByTestId('live-record-count').textContent();
  await press(page, 'live-read');
  await eventually(10_000, async () => (await page.getByTestId('live-record-count').textContent()) !== before);
  return valueOf(page, 'live-record-count');
}

async function liveMode(page) {
  // The mode tabs follow the ARIA tabs pattern: arrow keys move between them.
  await page.getByRole('tab', { name: 'Simulation' }).focus();
  await page.keyboard.press('ArrowRight');
  const liveTab = page.getByRole('tab', { name: 'Live (OPFS)' });
  check((await liveTab.getAttribute('aria-selected')) === 'true', 'ArrowRight on the Simulation tab selects Live');
  check(await liveTab.evaluate((tab) => tab === document.activeElement), 'and focuses it');
  await openLive(page);
  await press(page, 'live-start');
  const committing = await eventually(15_000, async () => (await valueOf(page, 'live-commits')) >= 200);
  const commits = await valueOf(page, 'live-commits');
  check(committing, `16 live writers get commits acknowledged (${commits})`);
  const grouped = await eventually(10_000, async () => (await valueOf(page, 'live-records-per-flush')) > 1);
  const perFlush = await valueOf(page, 'live-records-per-flush');
  check(grouped, `real flushes carry more than one record each (${perFlush.toFixed(2)})`);
  const frames = await measureFrames(page, 3);
  say(
    `live frame times with 16 writers over 3s: ${frames.frames} frames, median ${frames.medianMs.toFixed(2)} ms, ` +
      `p95 ${frames.p95Ms.toFixed(2)} ms, ${frames.fps.toFixed(1)} fps`,
  );
  check(frames.medianMs <= FRAME_MEDIAN_MS_MAX, `live median frame time ${frames.medianMs.toFixed(2)} ms <= ${FRAME_MEDIAN_MS_MAX} ms`);
  const durable = await valueOf(page, 'live-durable-lsn');
  check(durable > 0, `the real durable LSN advanced (${durable})`);
  const listed = await readRecords(page);
  check(listed > 0, `the record browser lists the durable records (${listed})`);
  const shot = path.join(SCREENSHOT_DIR, 'live.png');
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: shot });
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'live-full.png'), fullPage: true });
  say(`screenshots: ${path.relative(ROOT, shot)} (1280x800), live-full.png (whole page)`);

  // Crash while the writers are committing, then reopen.
  await press(page, 'live-crash');
  const crashed = await eventually(10_000, async () => /Reopen to see/.test(await page.getByTestId('live-phase').textContent()));
  check(crashed, `Crash ends the worker mid-batch and tears its last write (${await page.getByTestId('live-phase').textContent()})`);
  const acknowledged = await valueOf(page, 'live-commits');
  await openLive(page);
  const verdict = page.getByTestId('live-survived');
  await eventually(10_000, async () => (await verdict.getAttribute('data-value')) !== null);
  say(`recovery: ${await page.getByTestId('live-opened').textContent()}`);
  say(`recovery: ${await verdict.textContent()}`);
  check((await verdict.getAttribute('data-value')) === 'true', 'after the crash every acknowledged record survived recovery');
  const truncated = await valueOf(page, 'live-opened');
  check(truncated > 0, `recovery cut off the torn tail (${truncated} bytes)`);
  const afterCrash = await readRecords(page);
  check(afterCrash >= acknowledged, `the reopened log holds at least the ${acknowledged} acknowledged records (${afterCrash})`);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'live-recovered.png') });

  // A page reload: the worker goes with the page; the records stay in OPFS.
  await page.reload();
  await page.getByTestId('walden-dashboard').waitFor({ timeout: 20_000 });
  await page.getByTestId('tab-live').click();
  await openLive(page);
  const afterReload = await readRecords(page);
  check(afterReload === afterCrash, `the records survive a page reload (${afterReload} records)`);
  check((await valueOf(page, 'live-opened')) === 0, 'a clean reopen finds no torn tail');
}

async function main() {
  if (!existsSync(path.join(DIST, 'index.html'))) throw new Failure(`no ${DIST}/index.html (run 'trunk build --release' first)`);
  if (!existsSync(CHROMIUM)) throw new Failure(`no Chromium at ${CHROMIUM}`);
  const port = await freePort();
  const { child: server, url } = await serve(port);
  const profile = mkdtempSync(path.join(os.tmpdir(), 'walden-e2e-'));
  let context;
  const errors = [];
  try {
    say(`serving ${path.relative(ROOT, DIST) || DIST} at ${url}`);
    // A persistent profile, so live mode's records can be checked across a reload.
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: VIEWPORT,
      timeout: 30_000,
    });
    context.setDefaultTimeout(15_000);
    const page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(`console.error: ${message.text()}`);
    });
    page.on('pageerror', (error) => errors.push(`page error: ${error.message}`));
    await page.goto(url);
    await page.getByTestId('walden-dashboard').waitFor({ timeout: 20_000 });
    say('the dashboard rendered');

    await simulationMode(page);
    await liveMode(page);

    check(errors.length === 0, `no console errors (${errors.length ? errors.join('; ') : 'none'})`);
    say(`OK: every check passed in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  } finally {
    if (context) await context.close().catch(() => {});
    server.kill();
    rmSync(profile, { recursive: true, force: true });
  }
}

// A hard bound on the whole run, whatever hangs.
const watchdog = setTimeout(() => {
  console.error('e2e: FAIL: did not finish within 180 s');
  process.exit(1);
}, 180_000);
watchdog.unref();

main().then(
  () => process.exit(0),
  (error) => {
    console.error(`e2e: FAIL: ${error instanceof Failure ? error.message : error.stack ?? error}`);
    process.exit(1);
  },
);
