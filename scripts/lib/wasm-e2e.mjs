// End-to-end test of the browser backend in headless Chromium, with playwright-core driving the
// system Chromium (never a downloaded browser).
//
//   node scripts/lib/wasm-e2e.mjs [SITE_DIR]     (default: target/wasm-site, built by
//                                                 scripts/lib/build-wasm-pkg.sh)
//
// Serves SITE_DIR on 127.0.0.1 (scripts/lib/serve-isolated.py: python3's http.server with
// cross-origin isolation headers, on a free port) and, in one persistent
// browser profile: loads the example page, commits records through its form, reloads the page
// and finds them again (read back from OPFS by a new worker); opens a second tab, which shares
// the log as a follower and commits through the first; closes both and finds the records once more in a fresh page (the lock
// died with the first page's worker); checks that commits sent from separate page tasks share
// flushes, that a missing worker script and a log freed without close() are handled; then runs
// the benchmark page and prints its numbers.
// Environment: BENCH=0 skips the benchmark; BENCH_ROUNDS, BENCH_MS tune it. Every wait is
// bounded; exits non-zero on the first failure.
import { join, resolve } from "node:path";
import { ROOT, check, run, withBrowser } from "./browser-harness.mjs";

const SITE = resolve(process.argv[2] || join(ROOT, "target", "wasm-site"));
const RUN_BENCH = process.env.BENCH !== "0";
const BENCH_ROUNDS = process.env.BENCH_ROUNDS || "4";
const BENCH_MS = process.env.BENCH_MS || "1000";

const say = (...args) => console.log("wasm-e2e:", ...args);

async function pageState(page, ms = 30000) {
  await page.waitForFunction(() => document.body.dataset.state, null, { timeout: ms });
  return page.evaluate(() => document.body.dataset.state);
}

async function records(page) {
  return page.$$eval("#records li", (items) => items.map((item) => item.textContent));
}

async function commitThroughForm(page, text) {
  const before = (await records(page)).length;
  await page.fill("#text", text);
  await page.click("#commit");
  await page.waitForFunction((n) => document.querySelectorAll("#records li").length > n, before, {
    timeout: 15000,
  });
}

async function main() {
  await withBrowser(SITE, async ({ context, base, errors: consoleErrors }) => {
    say(`serving ${SITE} at ${base}`);

    // 1. Commit records, reload, find them again.
    const page = context.pages()[0] || (await context.newPage());
    await page.goto(base + "index.html");
    check((await pageState(page)) === "open", `the example page did not open its log: ${await page.textContent("#status")}`);
    const texts = ["first record", "second record", "a third, with ünïcødé"];
    for (const text of texts) await commitThroughForm(page, text);
    const committed = await records(page);
    // The page subscribed with onEvent: the worker's flushes must have reached it.
    const events = await page.textContent("#events");
    check(events.includes('"type":"flushFinished"') && events.includes('"type":"appended"'),
      `the page saw no appended/flushFinished events: ${events.slice(0, 300)}`);
    const durable = BigInt(await page.textContent("#durable"));
    check(durable > 0n, `durable LSN ${durable} did not move after three commits`);
    say(`committed ${committed.length} records; durable LSN ${durable}`);
    await page.reload();
    check((await pageState(page)) === "open", `the page did not reopen its log after a reload: ${await page.textContent("#status")}`);
    const reloaded = await records(page);
    for (const text of texts) {
      check(reloaded.some((line) => line.endsWith(`: ${text}`)), `after a reload, "${text}" is missing: ${JSON.stringify(reloaded)}`);
    }
    check(BigInt(await page.textContent("#durable")) >= durable, "the durable LSN went back after a reload");
    say(`after a reload the page read back ${reloaded.length} records, including all ${texts.length} committed`);

    // The page may ask for persistent storage (navigator.storage.persist(), page-only).
    await page.click("#persist");
    await page.waitForFunction(() => document.getElementById("persisted").textContent !== "", null, { timeout: 10000 });
    say(`requestPersistence(): ${await page.textContent("#persisted")}`);

    // A worker script that cannot load rejects open with kind "worker", not a hang.
    const missing = await page.evaluate(async () => {
      const { WaldenLog } = await import("./pkg/walden_wasm.js");
      try {
        await WaldenLog.open("never.wal", { workerUrl: "./no-such-worker.js" });
        return "opened";
      } catch (error) {
        return error.kind;
      }
    });
    check(missing === "worker", `open with a missing worker script should fail with kind "worker", got ${missing}`);

    // A log freed without close() is closed anyway: its lock is released and its records kept.
    const dropped = await page.evaluate(async () => {
      const { WaldenLog } = await import("./pkg/walden_wasm.js");
      const first = await WaldenLog.open("dropped.wal");
      await first.commit(new TextEncoder().encode("kept after free()"));
      first.free();
      for (let attempt = 0; attempt < 50; attempt++) {
        try {
          const again = await WaldenLog.open("dropped.wal");
          const count = (await again.read(0n)).length;
          await again.close();
          return `reopened with ${count} record(s)`;
        } catch (error) {
          if (error.kind !== "locked") return `error ${error.kind}: ${error.message}`;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      return "still locked after 5 s";
    });
    check(dropped === "reopened with 1 record(s)", `a freed log: ${dropped}`);
    say(`a log freed without close(): ${dropped}`);

    // truncate() through the page API: the commit issued just before it is durable first, the
    // records are gone after it, and LSNs go on from the new base, across a reopen.
    const truncated = await page.evaluate(async () => {
      const { WaldenLog } = await import("./pkg/walden_wasm.js");
      const encode = (text) => new TextEncoder().encode(text);
      const log = await WaldenLog.open("truncated.wal");
      await log.commit(encode("before the snapshot"));
      const last = log.commit(encode("issued just before truncate"));
      const base = await log.truncate();
      const lastLsn = await last;
      const oldRead = await log.read(0n).then(() => "allowed", (error) => error.kind);
      const next = await log.commit(encode("after the snapshot"));
      await log.close();
      const again = await WaldenLog.open("truncated.wal");
      const records = await again.read(base);
      const stats = await again.stats();
      await again.close();
      return {
        ordered: lastLsn < base,
        next: next === base,
        oldRead,
        baseKept: stats.baseLsn === base,
        payloads: records.map((r) => new TextDecoder().decode(r.payload)),
      };
    });
    check(truncated.ordered && truncated.next && truncated.baseKept,
      `truncate() did not keep LSNs growing: ${JSON.stringify(truncated)}`);
    check(truncated.oldRead === "badRequest", `a read from before the base should be refused, got ${truncated.oldRead}`);
    check(JSON.stringify(truncated.payloads) === JSON.stringify(["after the snapshot"]),
      `after truncate() and a reopen the log should hold only the later record: ${JSON.stringify(truncated.payloads)}`);
    say("truncate(): the earlier commit answered first, the records dropped, LSNs kept growing across a reopen");

    // Commits issued from separate page tasks (one message each) that pile up while a flush
    // runs share the next flush: the worker's event loop is the group-commit window.
    const separate = await page.evaluate(async () => {
      const { WaldenLog } = await import("./pkg/walden_wasm.js");
      const log = await WaldenLog.open("separate-tasks.wal");
      const payload = new TextEncoder().encode("from its own task");
      // 200 timer tasks queued at once (not nested, so not clamped to 4 ms): each commits in
      // its own task, so each commit is its own message to the worker.
      const commits = await new Promise((resolve) => {
        const promises = [];
        for (let i = 0; i < 200; i++) {
          setTimeout(() => {
            promises.push(log.commit(payload));
            if (promises.length === 200) resolve(promises);
          }, 0);
        }
      });
      await Promise.all(commits);
      const stats = await log.stats();
      await log.close();
      return { commits: stats.commits, flushes: stats.flushes, max: stats.maxCommitsPerFlush };
    });
    say(`200 commits from 200 separate tasks: ${separate.flushes} flushes (at most ${separate.max} commits in one)`);
    check(separate.commits === 200, `expected 200 commits, the worker counted ${separate.commits}`);
    check(separate.flushes <= 100 && separate.max > 1,
      `commits from separate tasks never shared a flush: ${JSON.stringify(separate)}`);

    // 2. A second tab shares the log: it opens as a follower, sees the records, and its commit
    // goes through the first tab's worker (the leader).
    const second = await context.newPage();
    await second.goto(base + "index.html");
    const state = await pageState(second, 15000);
    check(state === "open", `a second tab should open the shared log, got ${state}: ${await second.textContent("#status")}`);
    const roles = [await page.evaluate(() => window.waldenLog.role), await second.evaluate(() => window.waldenLog.role)];
    check(roles[0] === "leader" && roles[1] === "follower", `the first tab should lead and the second follow: ${roles}`);
    check((await records(second)).length === reloaded.length, "the second tab sees a different number of records");
    await commitThroughForm(second, "from the second tab");
    const seenByFirst = await page.evaluate(async () => {
      const texts = [];
      for await (const { payload } of window.waldenLog.records()) texts.push(new TextDecoder().decode(payload));
      return texts;
    });
    check(seenByFirst.includes("from the second tab"), `the first tab does not read the second tab's commit: ${JSON.stringify(seenByFirst)}`);
    say(`second tab: opened as ${roles[1]}, committed through the leader; the first tab reads it back`);
    await second.close();

    // 3. Closing the page releases the lock: a fresh page opens the log and sees the records.
    await page.close();
    const third = await context.newPage();
    await third.goto(base + "index.html");
    check((await pageState(third)) === "open", `after the first page closed, a new page could not open the log: ${await third.textContent("#status")}`);
    check((await records(third)).length === reloaded.length + 1, "a new page sees a different number of records");
    say("after the first page closed, a new page opened the log (lock released)");
    await third.close();

    // 4. The benchmark.
    if (RUN_BENCH) {
      // Two helper tabs for the several-tabs phase: they join the bench page's log as followers.
      const helpers = [];
      for (let i = 0; i < 2; i++) {
        const helper = await context.newPage();
        await helper.goto(base + "bench-tab.html");
        await helper.waitForFunction(() => document.body.dataset.state === "ready", null, { timeout: 30000 });
        helpers.push(helper);
      }
      const bench = await context.newPage();
      bench.on("console", (msg) => msg.text().startsWith("WALDEN_BENCH") && say(msg.text().slice(0, 2000)));
      await bench.goto(`${base}bench.html?rounds=${BENCH_ROUNDS}&ms=${BENCH_MS}${process.env.BENCH_QUERY || ""}`);
      await bench.waitForFunction(() => window.waldenBench, null, { timeout: 300000 });
      const result = await bench.evaluate(() => window.waldenBench);
      check(!result.error, `the benchmark failed: ${result.error}`);
      check(result.config.crossOriginIsolated, "the benchmark page is not cross-origin isolated: its timer is coarse");
      const g = result.grouped;
      const p = result.flushPerCommit;
      const row = (label, key, digits = 0) =>
        say(`  ${label.padEnd(38)} ${g[key].toFixed(digits).padStart(10)} ${p[key].toFixed(digits).padStart(12)}`);
      say(`benchmark (100-byte records, median of ${BENCH_ROUNDS} alternating rounds, ${BENCH_MS} ms each):`);
      say(`  ${"".padEnd(38)} ${"grouped".padStart(10)} ${"per-commit".padStart(12)}`);
      row("durable commit p50 (ms), 1 at a time", "latencyP50Ms", 3);
      row("durable commit p99 (ms), 1 at a time", "latencyP99Ms", 3);
      row("durable commit mean (ms), 1 at a time", "latencyMeanMs", 3);
      row("  of which drain + flush() in worker", "flushMeanMs", 3);
      row("commits/s, 1 in flight", "commitsPerSec1");
      row("commits/s, 16 in flight", "commitsPerSec16");
      row("commits/s, 64 in flight", "commitsPerSec64");
      row("most commits in one flush", "maxCommitsPerFlush");
      say(`  at 64 in flight, per commit: ${g.totalUsPerCommit64.toFixed(1)} us in all, of which the worker's own work ${g.workerUsPerCommit64.toFixed(1)} us and drain + flush() ${g.flushUsPerCommit64.toFixed(1)} us (the rest: the page and the messages)`);
      say(`  64 in flight: grouped / flush-per-commit = ${result.ratio64.toFixed(1)}x (per-commit at 1 in flight: ${result.ratio64VsPerCommitAt1.toFixed(1)}x)`);
      // Group commit must actually group: a loose bound that only a broken window fails.
      check(g.maxCommitsPerFlush >= 16, `group commit never carried 16 commits in one flush (max ${g.maxCommitsPerFlush})`);
      check(p.maxCommitsPerFlush === 1, `flush-per-commit carried ${p.maxCommitsPerFlush} commits in one flush`);
      check(result.ratio64 > 2, `group commit at 64 in flight is only ${result.ratio64.toFixed(2)}x flush-per-commit`);
      const tabs = result.tabs;
      check(!tabs.skipped, `the several-tabs phase did not run: ${tabs.skipped}`);
      check(tabs.roles.every((role) => role === "follower"), `the helper tabs should follow: ${tabs.roles}`);
      say(`  one log, several tabs (64 in flight each): one tab ${Math.round(tabs.oneTab64)} commits/s, one follower ${Math.round(tabs.follower64)} (${tabs.followerVsOne.toFixed(2)}x), three tabs ${Math.round(tabs.threeTabs64)} in total (${tabs.threeVsOne.toFixed(2)}x one tab)`);
      say(`  follower overhead per commit: ${tabs.followerOverheadUs.toFixed(0)} us one at a time (p50 ${tabs.followerP50Ms.toFixed(3)} vs ${tabs.leaderP50Ms.toFixed(3)} ms), ${tabs.followerOverheadAt64Us.toFixed(1)} us at 64 in flight`);
      await bench.close();
      for (const helper of helpers) await helper.close();
    }
    // The missing-worker check above 404s on purpose.
    const relevant = consoleErrors.filter((e) => !e.includes("favicon") && !e.includes("no-such-worker.js"));
    check(relevant.length === 0, `the pages logged errors: ${relevant.join(" | ")}`);
    say("PASS");
  });
}

run("wasm-e2e", main, 600);
