// End-to-end test of walden-wasm's JavaScript API beyond commit and read, in headless Chromium
// (scripts/lib/browser-harness.mjs), on wasm/example/lab.html:
//   - records(): an async iterator over every record, across read pages, from any LSN;
//   - recovery: the report of what recovery found (new log, reopened log, salvaged log);
//   - open options: durability "buffered", recovery "pointInTime" after a log damaged in the
//     middle is refused with kind "corrupt", and an unknown option value is "badRequest";
//   - terminate(): ends the worker mid-burst; awaited commits survive, the rest reject;
//   - backpressure: 100,000 commits fired without awaiting grow neither the page's nor the
//     worker's wasm memory by more than MEMORY_BOUND_MIB (4 MiB).
//
//   node scripts/lib/wasm-e2e-api.mjs [SITE_DIR]   (default target/wasm-site)
import { join, resolve } from "node:path";
import { ROOT, check, run, withBrowser } from "./browser-harness.mjs";

const SITE = resolve(process.argv[2] || join(ROOT, "target", "wasm-site"));
const MEMORY_BOUND_MIB = 4;
const say = (...args) => console.log("wasm-e2e-api:", ...args);

async function lab(context, base) {
  const page = await context.newPage();
  await page.goto(base + "lab.html");
  await page.waitForFunction(() => document.body.dataset.state === "ready", null, { timeout: 30000 });
  return page;
}

async function main() {
  await withBrowser(SITE, async ({ context, base, errors }) => {
    const page = await lab(context, base);

    // records(): 300 records of 20 KB (about 6 MB: more than one 4 MiB read page).
    const iterated = await page.evaluate(async () => {
      const { WaldenLog } = window.walden;
      const log = await WaldenLog.open("api-records.wal");
      const fresh = log.recovery;
      const payload = (i) => new Uint8Array(20000).fill(i % 251);
      const lsns = await Promise.all(Array.from({ length: 300 }, (_, i) => log.commit(payload(i))));
      let count = 0;
      let ordered = true;
      let intact = true;
      let last = -1n;
      for await (const { lsn, payload: bytes } of log.records()) {
        if (lsn <= last || lsn !== lsns[count]) ordered = false;
        if (bytes.length !== 20000 || bytes[0] !== count % 251) intact = false;
        last = lsn;
        count += 1;
      }
      let fromMiddle = 0;
      for await (const record of log.records(lsns[100])) fromMiddle += record.lsn >= lsns[100] ? 1 : 0;
      let early = 0;
      for await (const _ of log.records()) if (++early === 5) break;
      await log.close();
      const again = await WaldenLog.open("api-records.wal");
      const reopened = again.recovery;
      await again.close();
      const bigints = (value) => JSON.parse(JSON.stringify(value, (_, v) => (typeof v === "bigint" ? `${v}n` : v)));
      return { count, ordered, intact, fromMiddle, early, fresh: bigints(fresh), reopened: bigints(reopened) };
    });
    check(iterated.count === 300 && iterated.ordered && iterated.intact,
      `records() should give the 300 records in order, intact: ${JSON.stringify(iterated)}`);
    check(iterated.fromMiddle === 200, `records(lsn of the 101st) should give 200, gave ${iterated.fromMiddle}`);
    check(iterated.early === 5, "breaking out of for-await should end the iteration");
    check(iterated.fresh.records === 0 && iterated.fresh.tail === null && iterated.fresh.mode === "tolerateTornTail",
      `a new log's recovery report: ${JSON.stringify(iterated.fresh)}`);
    check(iterated.reopened.records === 300, `the reopened log's report should count 300 records: ${JSON.stringify(iterated.reopened)}`);
    say(`records() walked 300 records (6 MB, two read pages) in order; recovery on reopen: ${JSON.stringify(iterated.reopened)}`);

    // durability "buffered": commits resolve before any flush; they are read back after a reopen.
    const buffered = await page.evaluate(async () => {
      const { WaldenLog } = window.walden;
      const log = await WaldenLog.open("api-buffered.wal", { durability: "buffered" });
      await Promise.all(Array.from({ length: 100 }, (_, i) => log.commit(new Uint8Array([i]))));
      const stats = await log.stats();
      await log.close();
      const again = await WaldenLog.open("api-buffered.wal");
      let count = 0;
      for await (const _ of again.records()) count += 1;
      await again.close();
      let unknown;
      try {
        await WaldenLog.open("api-bad.wal", { durability: "eventually" });
      } catch (error) {
        unknown = `${error.kind}: ${error.message}`;
      }
      return { count, flushes: stats.flushes, commits: stats.commits, unknown };
    });
    check(buffered.count === 100, `100 buffered commits should be read back after a reopen: ${JSON.stringify(buffered)}`);
    check(String(buffered.unknown).startsWith("badRequest: unknown durability"), `an unknown durability should be badRequest: ${buffered.unknown}`);
    say(`durability "buffered": 100 commits, read back after reopen; unknown value -> ${buffered.unknown.slice(0, 60)}...`);

    // Damage in the middle of a log: refused as "corrupt", salvaged with {recovery: "pointInTime"}.
    const salvage = await page.evaluate(async () => {
      const { WaldenLog } = window.walden;
      const log = await WaldenLog.open("api-corrupt.wal");
      const lsns = await Promise.all(Array.from({ length: 2000 }, (_, i) => log.commit(new TextEncoder().encode(`record ${i}`))));
      await log.close();
      // Flip one payload byte of record 1000 with the async OPFS API (the log is closed).
      const root = await navigator.storage.getDirectory();
      const file = await root.getFileHandle("api-corrupt.wal");
      const bytes = new Uint8Array(await (await file.getFile()).arrayBuffer());
      // Format v2: the body starts 128 bytes into the file; a frame's payload 8 bytes into it.
      const at = 128 + Number(lsns[1000]) + 8;
      const writable = await file.createWritable({ keepExistingData: true });
      await writable.write({ type: "write", position: at, data: new Uint8Array([bytes[at] ^ 0xff]) });
      await writable.close();
      let refused;
      try {
        await WaldenLog.open("api-corrupt.wal");
      } catch (error) {
        refused = { kind: error.kind, message: error.message };
      }
      const salvaged = await WaldenLog.open("api-corrupt.wal", { recovery: "pointInTime" });
      const report = salvaged.recovery;
      let count = 0;
      let last = "";
      for await (const { payload } of salvaged.records()) {
        count += 1;
        last = new TextDecoder().decode(payload);
      }
      const next = await salvaged.commit(new TextEncoder().encode("after the salvage"));
      await salvaged.close();
      return {
        refused, count, last, next: String(next), at1000: String(lsns[1000]),
        tail: report.tail && { kind: report.tail.kind, at: String(report.tail.at), nextValid: String(report.tail.nextValid) },
        records: report.records,
      };
    });
    check(salvage.refused && salvage.refused.kind === "corrupt" && salvage.refused.message.includes('recovery: "pointInTime"'),
      `a log damaged mid-file should be refused as corrupt, naming the pointInTime option: ${JSON.stringify(salvage.refused)}`);
    check(salvage.count === 1000 && salvage.last === "record 999" && salvage.records === 1000,
      `pointInTime should keep the 1000 records before the damage: ${JSON.stringify(salvage)}`);
    check(salvage.tail && salvage.tail.kind === "discarded" && salvage.tail.at === salvage.at1000 && salvage.next === salvage.at1000,
      `the salvage report should say what was discarded, from record 1000 on: ${JSON.stringify(salvage)}`);
    say(`mid-log damage: refused (${salvage.refused.kind}), then pointInTime kept ${salvage.count} of 2000 (tail ${JSON.stringify(salvage.tail)})`);

    // terminate(): acknowledged commits survive; those in flight reject with "closed".
    const terminated = await page.evaluate(async () => {
      const { WaldenLog } = window.walden;
      const log = await WaldenLog.open("api-terminate.wal");
      for (let i = 0; i < 10; i++) await log.commit(new Uint8Array([i]));
      const inFlight = Array.from({ length: 100 }, (_, i) => log.commit(new Uint8Array([100 + i])));
      log.terminate();
      const settled = await Promise.allSettled(inFlight);
      const kinds = [...new Set(settled.filter((s) => s.status === "rejected").map((s) => s.reason.kind))];
      let after;
      try {
        await log.commit(new Uint8Array([0]));
      } catch (error) {
        after = error.kind;
      }
      let again;
      for (let attempt = 0; attempt < 100 && !again; attempt++) {
        try {
          again = await WaldenLog.open("api-terminate.wal");
        } catch (error) {
          if (error.kind !== "locked") throw error;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      const values = [];
      for await (const { payload } of again.records()) values.push(payload[0]);
      await again.close();
      return { kinds, after, values };
    });
    check(terminated.kinds.length === 1 && terminated.kinds[0] === "closed" && terminated.after === "closed",
      `commits pending at terminate() should reject with "closed": ${JSON.stringify(terminated)}`);
    check(terminated.values.slice(0, 10).every((v, i) => v === i), `the 10 acknowledged commits must survive terminate(): ${terminated.values}`);
    check(terminated.values.every((v, i) => v === (i < 10 ? i : 90 + i)), `what survived must be a prefix in order: ${terminated.values}`);
    say(`terminate(): 10 acknowledged kept, ${terminated.values.length - 10} of 100 in flight found after reopening, the rest rejected "closed"`);

    // Backpressure: 100,000 commits without awaiting; then the same with the bound lifted (in
    // a fresh page, since wasm memory never shrinks), for the comparison.
    const flood = async (target, options) => target.evaluate(async (options) => {
      const { WaldenLog } = window.walden;
      const log = await WaldenLog.open(options.name, options);
      await log.commit(new Uint8Array(100));
      const pageBefore = window.pageWasmBytes();
      const workerBefore = (await log.stats()).workerMemoryBytes;
      const started = performance.now();
      const promises = [];
      const payload = new Uint8Array(100);
      for (let i = 0; i < 100000; i++) {
        payload[0] = i % 256;
        promises.push(log.commit(payload));
      }
      await Promise.all(promises);
      const ms = performance.now() - started;
      const stats = await log.stats();
      await log.close();
      return {
        ms, flushes: stats.flushes, commits: stats.commits,
        pageGrowth: window.pageWasmBytes() - pageBefore, workerGrowth: stats.workerMemoryBytes - workerBefore,
      };
    }, options);
    const mib = (bytes) => (bytes / 1048576).toFixed(1);
    const bounded = await flood(await lab(context, base), { name: "api-flood.wal" });
    check(bounded.commits === 100001, `the worker should count 100,001 commits: ${JSON.stringify(bounded)}`);
    check(bounded.pageGrowth <= MEMORY_BOUND_MIB * 1048576 && bounded.workerGrowth <= MEMORY_BOUND_MIB * 1048576,
      `100,000 un-awaited commits grew wasm memory past ${MEMORY_BOUND_MIB} MiB: page +${mib(bounded.pageGrowth)} MiB, worker +${mib(bounded.workerGrowth)} MiB`);
    const unbounded = await flood(await lab(context, base), { name: "api-flood-unbounded.wal", maxPendingOps: 1e9, maxPendingBytes: 4e9 });
    say(`100,000 un-awaited 100-byte commits: page wasm +${mib(bounded.pageGrowth)} MiB, worker +${mib(bounded.workerGrowth)} MiB (bound ${MEMORY_BOUND_MIB} MiB), ${bounded.flushes} flushes, ${bounded.ms.toFixed(0)} ms; ` +
      `without the bound: page +${mib(unbounded.pageGrowth)} MiB, worker +${mib(unbounded.workerGrowth)} MiB, ${unbounded.flushes} flushes, ${unbounded.ms.toFixed(0)} ms`);

    const relevant = errors.filter((e) => !e.includes("favicon.ico"));
    check(relevant.length === 0, `the pages logged errors: ${relevant.join(" | ")}`);
    say("PASS");
  });
}

run("wasm-e2e-api", main, 300);
