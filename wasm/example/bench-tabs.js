// The benchmark's several-tabs phase: one log shared by this page (which opens it first, so it
// leads) and two tabs of bench-tab.html (which follow, forwarding through this page's worker),
// coordinated over the BroadcastChannel "walden-bench-tabs". Same run, side by side, medians of
// the rounds: commits/s at 64 in flight from this tab alone, from one follower alone, and from
// all three at once (total); and the follower's overhead per commit: its one-at-a-time commit
// latency minus the leader's (chunks of 25 alternating), and at 64 in flight the difference of
// the per-commit times. Skipped, saying so, when fewer than two helper tabs answer.
import { WaldenLog } from "./pkg/walden_wasm.js";
import { commitOneByOne, median, quantile, throughput } from "./bench-lib.js";

const HELPERS = 2;
const LATENCY_COMMITS = 200;
const CHUNK = 25;

function channel() {
  const bc = new BroadcastChannel("walden-bench-tabs");
  const waiting = new Map();
  const joined = [];
  bc.onmessage = ({ data }) => {
    if (data.joined) joined.push(data);
    const resolve = waiting.get(data.reply);
    if (resolve) {
      waiting.delete(data.reply);
      resolve(data);
    }
  };
  let next = 0;
  const ask = (to, message) =>
    new Promise((resolve, reject) => {
      const id = `q${next++}`;
      waiting.set(id, resolve);
      bc.postMessage({ ...message, to, id });
      setTimeout(() => waiting.has(id) && reject(new Error(`helper tab ${to} did not answer ${message.cmd}`)), 120000);
    });
  return { bc, joined, ask };
}

export async function runTabsPhase({ rounds, ms }) {
  const name = `bench-tabs-${Date.now()}.wal`;
  const log = await WaldenLog.open(name);
  const { bc, joined, ask } = channel();
  try {
    bc.postMessage({ cmd: "join", name });
    const deadline = performance.now() + 5000;
    while (joined.length < HELPERS && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (joined.length < HELPERS || log.role !== "leader") {
      return { skipped: `several tabs: skipped (open bench-tab.html in ${HELPERS} more tabs of this origin, then reload this page; ${joined.length} answered)` };
    }
    const helpers = joined.slice(0, HELPERS).map((j) => j.joined);
    const roles = joined.slice(0, HELPERS).map((j) => j.role);
    const per = { oneTab64: [], follower64: [], threeTabs64: [], leaderP50: [], followerP50: [] };
    for (let round = 0; round < rounds; round++) {
      per.oneTab64.push(await throughput(log, 64, ms));
      per.follower64.push((await ask(helpers[0], { cmd: "throughput", inFlight: 64, ms })).rate);
      const [mine, ...theirs] = await Promise.all([
        throughput(log, 64, ms),
        ...helpers.map((h) => ask(h, { cmd: "throughput", inFlight: 64, ms })),
      ]);
      per.threeTabs64.push(mine + theirs.reduce((sum, t) => sum + t.rate, 0));
      const leaderTimes = [];
      const followerTimes = [];
      for (let done = 0; done < LATENCY_COMMITS; done += CHUNK) {
        await commitOneByOne(log, CHUNK, leaderTimes);
        followerTimes.push(...(await ask(helpers[0], { cmd: "latency", count: CHUNK })).times);
      }
      per.leaderP50.push(quantile(leaderTimes, 0.5));
      per.followerP50.push(quantile(followerTimes, 0.5));
    }
    const out = {
      roles,
      oneTab64: median(per.oneTab64),
      follower64: median(per.follower64),
      threeTabs64: median(per.threeTabs64),
      leaderP50Ms: median(per.leaderP50),
      followerP50Ms: median(per.followerP50),
      rounds: per,
    };
    out.threeVsOne = out.threeTabs64 / out.oneTab64;
    out.followerVsOne = out.follower64 / out.oneTab64;
    out.followerOverheadUs = (out.followerP50Ms - out.leaderP50Ms) * 1000;
    out.followerOverheadAt64Us = (1 / out.follower64 - 1 / out.oneTab64) * 1e6;
    return out;
  } finally {
    for (const helper of joined.map((j) => j.joined)) bc.postMessage({ cmd: "close", to: helper });
    bc.close();
    await log.close();
  }
}
