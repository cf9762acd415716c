// What the browser backend's end-to-end tests share: headless Chromium (the system one, driven
// by playwright-core from tools/; never a downloaded browser) in a fresh persistent profile,
// against a site served on 127.0.0.1 by scripts/lib/serve-isolated.py (python3's http.server
// with cross-origin isolation headers, on a free port).
//
//   import { withBrowser, check, fail } from "./browser-harness.mjs";
//   await withBrowser(siteDir, async ({ context, base, errors }) => { ... });
//   await withChromium(async ({ context, errors }) => { ... });   // serve it yourself
//
// `errors` collects page errors and console errors; the caller decides which are expected.
// Every wait is bounded; `run(name, main, seconds)` exits non-zero on the first failure.
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const require = createRequire(join(ROOT, "tools", "package.json"));
const { chromium } = require("playwright-core");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

export function fail(message) {
  throw new Error(message);
}
export function check(condition, message) {
  if (!condition) fail(message);
}

function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
    server.on("error", reject);
  });
}

async function waitForServer(url, ms) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  fail(`http.server on ${url} did not answer within ${ms} ms`);
}

/** Launches Chromium in a fresh profile, runs `body({context, errors})`, cleans up. */
export async function withChromium(body) {
  check(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM} (scripts/lib/tools.sh ensure_chromium installs it)`);
  const profile = mkdtempSync(join(tmpdir(), "walden-e2e-"));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage",
      ],
    });
    const errors = [];
    context.on("weberror", (error) => errors.push(String(error.error())));
    context.on("page", (page) => watchConsole(page, errors));
    for (const page of context.pages()) watchConsole(page, errors);
    return await body({ context, errors });
  } finally {
    if (context) await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  }
}

/** Serves `site` cross-origin isolated, then runs `body({context, base, errors})` in Chromium. */
export async function withBrowser(site, body) {
  check(existsSync(join(site, "index.html")), `no ${site}/index.html: run scripts/lib/build-wasm-pkg.sh first`);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}/`;
  // Cross-origin isolated (COOP/COEP), so performance.now() resolves microseconds.
  const server = spawn("python3", [join(ROOT, "scripts", "lib", "serve-isolated.py"), site, String(port)], {
    stdio: ["ignore", "ignore", "ignore"],
  });
  try {
    await waitForServer(base, 15000);
    return await withChromium(({ context, errors }) => body({ context, base, errors }));
  } finally {
    server.kill();
  }
}

function watchConsole(page, errors) {
  page.on("console", (msg) => msg.type() === "error" && errors.push(`${msg.text()} (${msg.location().url})`));
}

/** Runs `main()` with a deadline, printing `NAME: FAIL: ...` and exiting 1 on failure. */
export function run(name, main, seconds) {
  const timer = setTimeout(() => {
    console.error(`${name}: FAIL: timed out after ${seconds} s`);
    process.exit(1);
  }, seconds * 1000);
  main().then(
    () => {
      clearTimeout(timer);
      process.exit(0);
    },
    (error) => {
      console.error(`${name}: FAIL: ${error.message}`);
      process.exit(1);
    },
  );
}
