// End-to-end test of one log shared by several tabs, in headless Chromium
// (scripts/lib/browser-harness.mjs), on wasm/example/lab.html:
//   1. Three tabs commit at once to one log (one leads, two follow); every acknowledged record
//      is read back from every tab, in one total order, at the LSN it was acknowledged with.
//   2. A follower closes with 200 commits in flight: close() answers after all of them, and
//      every one is in the log. Then, three times, the leader closes its log while a follower
//      streams commits: every one is acknowledged (none leaderLost) and in the log once.
//   3. Leader loss, TABS_ROUNDS times (default 50) in a loop seeded by TABS_SEED: while both
//      tabs keep 8 to 64 commits in flight, the leader's tab is closed, or its worker
//      terminated (alternating), 5 to 45 ms in. The follower takes over. Every acknowledged
//      record (from either tab) is in the log; every follower commit the lost leader never
//      answered is acknowledged (then in the log: directly, or after being sent again to the
//      new leader) or rejected with kind "leaderLost" (then not in the log); no promise hangs,
//      nothing is in the log twice. A new tab then joins as the next round's follower.
//
//   node scripts/lib/wasm-e2e-tabs.mjs [SITE_DIR]   (default target/wasm-site)
import { join, resolve } from "node:path";
import { ROOT, check, run, withBrowser } from "./browser-harness.mjs";

const SITE = resolve(process.argv[2] || join(ROOT, "target", "wasm-site"));
const ROUNDS = Number(process.env.TABS_ROUNDS || 50);
const SEED = Number(process.env.TABS_SEED || 20261203);
const say = (...args) => console.log("wasm-e2e-tabs:", ...args);

/** A small seeded PRNG (mulberry32), so a failing round can be replayed with TABS_SEED. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The page-side helpers every tab gets (window.tab). */
function install() {
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  window.tab = {
    async open(name) {
      window.tab.log = await window.walden.WaldenLog.open(name);
      return window.tab.log.role;
    },
    role: () => window.tab.log.role,
    /** Fires `count` commits named `${prefix}${i}`; outcomes land in window.tab.outcomes. */
    fire(prefix, count) {
      const results = [];
      window.tab.outcomes = results;
      window.tab.settled = Promise.allSettled(
        Array.from({ length: count }, (_, i) =>
          window.tab.log.commit(encoder.encode(`${prefix}${i}`)).then(
            (lsn) => results.push({ text: `${prefix}${i}`, lsn: String(lsn) }),
            (error) => results.push({ text: `${prefix}${i}`, kind: error.kind, message: error.message }),
          ),
        ),
      );
    },
    /** Keeps `inFlight` commits named `${prefix}${i}` outstanding until stop() (or `closed`). */
    stream(prefix, inFlight) {
      const results = [];
      window.tab.outcomes = results;
      let next = 0;
      let stopped = false;
      window.tab.stop = () => { stopped = true; };
      const one = () => {
        if (stopped) return undefined;
        const text = `${prefix}${next++}`;
        return window.tab.log.commit(encoder.encode(text)).then(
          (lsn) => { results.push({ text, lsn: String(lsn) }); return one(); },
          (error) => {
            results.push({ text, kind: error.kind, message: error.message });
            return error.kind === "closed" ? undefined : one();
          },
        );
      };
      window.tab.settled = Promise.all(Array.from({ length: inFlight }, one));
    },
    async results(ms) {
      const timeout = new Promise((r) => setTimeout(() => r("timeout"), ms));
      const done = await Promise.race([window.tab.settled.then(() => "done"), timeout]);
      return { done, results: window.tab.outcomes };
    },
    async readAll() {
      const records = [];
      for await (const { lsn, payload } of window.tab.log.records()) {
        records.push({ lsn: String(lsn), text: decoder.decode(payload) });
      }
      return records;
    },
    terminate: () => window.tab.log.terminate(),
    close: () => window.tab.log.close().then(String),
  };
}

async function main() {
  await withBrowser(SITE, async ({ context, base, errors }) => {
    const newTab = async () => {
      const page = await context.newPage();
      await page.goto(base + "lab.html");
      await page.waitForFunction(() => document.body.dataset.state === "ready", null, { timeout: 30000 });
      await page.evaluate(install);
      return page;
    };
    const openTab = async (name) => {
      const page = await newTab();
      const role = await page.evaluate((name) => window.tab.open(name), name);
      return { page, role };
    };

    // 1. Three tabs, one log, one order.
    const tabs = [];
    for (let i = 0; i < 3; i++) tabs.push(await openTab("tabs-shared.wal"));
    const roles = tabs.map((t) => t.role);
    check(roles.filter((r) => r === "leader").length === 1 && roles.filter((r) => r === "follower").length === 2,
      `three tabs should be one leader and two followers: ${roles}`);
    await Promise.all(tabs.map((t, i) => t.page.evaluate((i) => window.tab.fire(`tab${i}-`, 300), i)));
    const results = await Promise.all(tabs.map((t) => t.page.evaluate(() => window.tab.results(60000))));
    const acked = new Map();
    for (const [i, r] of results.entries()) {
      check(r.done === "done", `tab ${i}'s commits did not all settle within 60 s`);
      for (const item of r.results) {
        check(item.lsn !== undefined, `tab ${i}: a commit failed: ${JSON.stringify(item)}`);
        acked.set(item.text, item.lsn);
      }
    }
    check(acked.size === 900, `expected 900 acknowledged commits, got ${acked.size}`);
    const reads = await Promise.all(tabs.map((t) => t.page.evaluate(() => window.tab.readAll())));
    const order = JSON.stringify(reads[0]);
    for (const [i, read] of reads.entries()) {
      check(JSON.stringify(read) === order, `tab ${i} reads a different log than tab 0`);
    }
    const inLog = new Map(reads[0].map((r) => [r.text, r.lsn]));
    for (const [text, lsn] of acked) {
      check(inLog.get(text) === lsn, `acknowledged "${text}" at ${lsn} is at ${inLog.get(text)} in the log`);
    }
    // durableLsn moves in every tab, followers included (the leader broadcasts it).
    await new Promise((r) => setTimeout(r, 300));
    const durables = await Promise.all(tabs.map((t) => t.page.evaluate(() => String(window.tab.log.durableLsn))));
    const newest = [...acked.values()].reduce((a, b) => (BigInt(a) > BigInt(b) ? a : b));
    check(durables.every((d) => d === durables[0]) && BigInt(durables[0]) > BigInt(newest),
      `every tab's durableLsn should be the same and past the newest acknowledged record (${newest}): ${durables}`);
    say(`three tabs (${roles.join(", ")}) committed 900 records at once; all three read the same ${reads[0].length} records in one order; durableLsn ${durables[0]} in all three`);

    // 2. A follower closes with 200 commits in flight.
    const follower = tabs.find((t) => t.role === "follower");
    const closed = await follower.page.evaluate(async () => {
      window.tab.fire("closing-", 200);
      const durable = await window.tab.log.close();
      const { results } = await window.tab.results(1);
      return { durable: String(durable), answered: results.length, failed: results.filter((r) => !r.lsn).length };
    });
    check(closed.answered === 200 && closed.failed === 0,
      `a follower's close() should answer after its 200 commits, all acknowledged: ${JSON.stringify(closed)}`);
    const leaderTab = tabs.find((t) => t.role === "leader");
    const afterClose = await leaderTab.page.evaluate(() => window.tab.readAll());
    const closingInLog = afterClose.filter((r) => r.text.startsWith("closing-")).length;
    check(closingInLog === 200, `the closing follower's 200 commits should be in the log, found ${closingInLog}`);
    say("a follower closed with 200 commits in flight: all 200 acknowledged first, all in the log");
    for (const t of tabs) await t.page.close();

    // 2b. The leader closes its log (a graceful hand-over) while a follower streams commits:
    // the close flushes what the leader placed, the rest goes to the next leader, so every
    // follower commit is acknowledged and none is leaderLost.
    for (let round = 0; round < 3; round++) {
      const first = await openTab("tabs-handover.wal");
      const second = await openTab("tabs-handover.wal");
      await second.page.evaluate(() => window.tab.stream(`handover-${Date.now()}-`, 32));
      await new Promise((r) => setTimeout(r, 30));
      await first.page.evaluate(() => window.tab.close());
      const tookOver = await second.page.waitForFunction(() => window.tab.role() === "leader", null, { timeout: 15000 }).then(() => true, () => false);
      check(tookOver, `hand-over ${round}: the follower did not take over after the leader closed`);
      await new Promise((r) => setTimeout(r, 30));
      await second.page.evaluate(() => window.tab.stop());
      const { done, results: outcomes } = await second.page.evaluate(() => window.tab.results(30000));
      const failed = outcomes.filter((o) => !o.lsn);
      check(done === "done" && failed.length === 0,
        `hand-over ${round}: every follower commit should be acknowledged across a graceful close: ${JSON.stringify(failed.slice(0, 3))}`);
      const log = await second.page.evaluate(() => window.tab.readAll());
      const where = new Map(log.map((r) => [r.text, r.lsn]));
      for (const o of outcomes) check(where.get(o.text) === o.lsn, `hand-over ${round}: "${o.text}" acknowledged at ${o.lsn}, in the log at ${where.get(o.text)}`);
      check(where.size === log.length, `hand-over ${round}: a record is in the log twice`);
      await first.page.close();
      await second.page.close();
    }
    say("the leader closed its log three times while a follower streamed commits: every one acknowledged, in the log once, none leaderLost");

    // 3. Leader loss, seeded.
    const random = prng(SEED);
    const ackedEver = new Map();
    const lostEver = new Set();
    let leader = await openTab("tabs-loss.wal");
    let next = await openTab("tabs-loss.wal");
    check(leader.role === "leader" && next.role === "follower", `roles ${leader.role}, ${next.role}`);
    const totals = { acked: 0, followerAcked: 0, leaderLost: 0, leaderClosedKind: 0, closes: 0, terminates: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      const inFlight = 8 + Math.floor(random() * 56);
      const delay = 5 + Math.floor(random() * 40);
      const how = round % 2 === 0 ? "close" : "terminate";
      await leader.page.evaluate(([p, n]) => window.tab.stream(p, n), [`r${round}-leader-`, inFlight]);
      await next.page.evaluate(([p, n]) => window.tab.stream(p, n), [`r${round}-follower-`, inFlight]);
      await new Promise((r) => setTimeout(r, delay));
      let leaderResults = { results: [] };
      if (how === "close") {
        leaderResults = await leader.page.evaluate(() => ({ results: [...window.tab.outcomes] }));
        await leader.page.close();
        totals.closes += 1;
      } else {
        await leader.page.evaluate(() => window.tab.terminate());
        leaderResults = await leader.page.evaluate(() => window.tab.results(10000));
        await leader.page.close();
        totals.terminates += 1;
      }
      const tookOver = await next.page.waitForFunction(() => window.tab.role() === "leader", null, { timeout: 15000 }).then(() => true, () => false);
      check(tookOver, `round ${round}: the follower did not take over within 15 s`);
      await next.page.evaluate(() => window.tab.stop());
      const followerResults = await next.page.evaluate(() => window.tab.results(30000));
      check(followerResults.done === "done", `round ${round}: the follower's commits did not all settle within 30 s after the leader was lost`);
      for (const item of leaderResults.results) {
        if (item.lsn) ackedEver.set(item.text, item.lsn);
        else totals.leaderClosedKind += 1;
      }
      for (const item of followerResults.results) {
        if (item.lsn) {
          ackedEver.set(item.text, item.lsn);
          totals.followerAcked += 1;
        } else {
          check(item.kind === "leaderLost", `round ${round}: a follower commit failed with ${item.kind}: ${item.message}`);
          lostEver.add(item.text);
          totals.leaderLost += 1;
        }
      }
      const log = await next.page.evaluate(() => window.tab.readAll());
      const where = new Map();
      for (const record of log) {
        check(!where.has(record.text), `round ${round}: "${record.text}" is in the log twice`);
        where.set(record.text, record.lsn);
      }
      for (const [text, lsn] of ackedEver) {
        check(where.get(text) === lsn, `round ${round} (seed ${SEED}, leader ${how}): acknowledged "${text}" at ${lsn} is at ${where.get(text)} in the log`);
      }
      for (const text of lostEver) {
        check(!where.has(text), `round ${round} (seed ${SEED}): "${text}" was rejected as leaderLost but is in the log`);
      }
      leader = next;
      next = await openTab("tabs-loss.wal");
      check(next.role === "follower", `round ${round}: a new tab should follow, it is ${next.role}`);
    }
    totals.acked = ackedEver.size;
    say(`${ROUNDS} leader losses (seed ${SEED}; ${totals.closes} tabs closed, ${totals.terminates} workers terminated mid-batch): ` +
      `${totals.acked} acknowledged commits all in the log; of the followers' commits (streamed across each loss) ${totals.followerAcked} acknowledged, ` +
      `${totals.leaderLost} rejected as leaderLost and absent; ${totals.leaderClosedKind} of the lost leader's own rejected as closed`);

    const relevant = errors.filter((e) => !e.includes("favicon.ico"));
    check(relevant.length === 0, `the pages logged errors: ${relevant.join(" | ")}`);
    say("PASS");
  });
}

run("wasm-e2e-tabs", main, 840);
