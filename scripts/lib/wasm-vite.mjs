// The Vite example (wasm/example-vite, built by scripts/lib/wasm-vite.sh) in headless Chromium,
// with playwright-core driving the system Chromium (never a downloaded browser).
//
//   node scripts/lib/wasm-vite.mjs BASE_URL     (the built dist/, already served there)
//
// In one fresh persistent profile: loads the page, waits for `window.viteResult`, checks that
// its three commits were acknowledged with growing LSNs and that `records()` read them back
// with the same payloads; reloads and checks that the second load read back the first load's
// records too (the log persists in OPFS, reopened by a new worker). Fails on page errors and on
// console errors. Every wait is bounded (60 s); exits non-zero on the first failure.
import { check, fail, run, withChromium } from "./browser-harness.mjs";

const BASE = process.argv[2];
const WAIT_MS = 60000;

const say = (...args) => console.log("wasm-vite:", ...args);

async function loadResult(page, label) {
  try {
    await page.waitForFunction(() => window.viteResult, null, { timeout: WAIT_MS });
  } catch {
    const status = await page.textContent("#status").catch(() => "(no #status)");
    fail(`${label}: no window.viteResult within ${WAIT_MS / 1000} s; the page shows "${status}"`);
  }
  const result = await page.evaluate(() => window.viteResult);
  if (result.error) fail(`${label}: the page failed with kind "${result.error.kind}": ${result.error.message}`);
  return result;
}

// The checks every load must pass: 3 commits acknowledged with growing LSNs, all of them read
// back by records() (at the end, in order, same payloads), and read() agreeing on the count.
function checkLoad(result, label) {
  const { committed, read } = result;
  check(Array.isArray(committed) && committed.length === 3, `${label}: expected 3 acknowledged commits, got ${JSON.stringify(committed)}`);
  const lsns = committed.map((c) => BigInt(c.lsn));
  for (let i = 1; i < lsns.length; i++) {
    check(lsns[i] > lsns[i - 1], `${label}: commit LSNs do not grow: ${lsns.join(", ")}`);
  }
  check(Array.isArray(read) && read.length >= committed.length, `${label}: records() yielded ${read && read.length} records, fewer than the ${committed.length} committed`);
  const readLsns = read.map((r) => BigInt(r.lsn));
  for (let i = 1; i < readLsns.length; i++) {
    check(readLsns[i] > readLsns[i - 1], `${label}: records() did not yield LSNs in order: ${readLsns.join(", ")}`);
  }
  const tail = read.slice(-committed.length);
  check(JSON.stringify(tail) === JSON.stringify(committed),
    `${label}: records() did not read back the commits: committed ${JSON.stringify(committed)}, read ${JSON.stringify(tail)}`);
  check(result.readPageCount === read.length, `${label}: read(0n) returned ${result.readPageCount} records, records() ${read.length}`);
  check(BigInt(result.durableLsn) >= lsns[lsns.length - 1], `${label}: durable LSN ${result.durableLsn} is behind the last commit ${lsns[lsns.length - 1]}`);
  check(result.crossOriginIsolated === false, `${label}: the page is cross-origin isolated; this test must run without COOP/COEP`);
}

async function main() {
  check(BASE && /^http:\/\/127\.0\.0\.1:\d+\/$/.test(BASE), `usage: node scripts/lib/wasm-vite.mjs http://127.0.0.1:PORT/ (got ${BASE})`);
  await withChromium(async ({ context, errors }) => {
    const page = context.pages()[0] || (await context.newPage());
    // Which files the page and its worker fetched, to report what Vite emitted and that it loaded.
    const fetched = new Set();
    context.on("requestfinished", (request) => fetched.add(new URL(request.url()).pathname));
    const failed = [];
    context.on("requestfailed", (request) => failed.push(`${request.url()} (${request.failure()?.errorText})`));

    await page.goto(BASE, { timeout: WAIT_MS });
    const first = await loadResult(page, "first load");
    checkLoad(first, "first load");
    check(first.read.length === first.committed.length, `first load: a fresh profile's log should hold only this load's records, it holds ${first.read.length}`);
    const worker = [...fetched].find((path) => /walden-worker[^/]*\.js$/.test(path));
    const wasm = [...fetched].find((path) => path.endsWith(".wasm"));
    check(worker, `the page never fetched a walden-worker*.js: ${[...fetched].join(" ")}`);
    check(wasm, `the page never fetched a .wasm: ${[...fetched].join(" ")}`);

    await page.reload({ timeout: WAIT_MS });
    const second = await loadResult(page, "after a reload");
    checkLoad(second, "after a reload");
    const expected = [...first.committed, ...second.committed];
    check(JSON.stringify(second.read) === JSON.stringify(expected),
      `after a reload, records() should yield the first load's 3 records and then this load's 3: ${JSON.stringify(second.read)}`);

    check(failed.length === 0, `requests failed: ${failed.join(" | ")}`);
    const relevant = errors.filter((e) => !e.includes("favicon"));
    check(relevant.length === 0, `the page logged errors: ${relevant.join(" | ")}`);
    say(`PASS: Vite build, default worker setup, no COOP/COEP: 2 loads committed 3 records each ` +
      `(LSNs ${second.committed.map((c) => c.lsn).join(", ")} on the second), records() read back ` +
      `${second.read.length} after the reload; worker ${worker}, wasm ${wasm}`);
  });
}

run("wasm-vite", main, 240);
