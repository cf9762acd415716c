// The browser benchmark: durable commit latency (one at a time, p50/p99) and commits/s with 1,
// 16 and 64 commits in flight, for group commit and for flush-per-commit (a worker that flushes
// after every commit), side by side in the same run: both logs are open at once and every
// measurement alternates between them. Then, if bench-tab.html is open in other tabs, one log
// shared by several tabs (bench-tabs.js). Results go to the page, to the console as
// one `WALDEN_BENCH {json}` line, and to window.waldenBench (the Playwright test reads it).
import init, { WaldenLog } from "./pkg/walden_wasm.js";
import { commitOneByOne, median, payload, quantile, throughput } from "./bench-lib.js";
import { runTabsPhase } from "./bench-tabs.js";

const params = new URLSearchParams(location.search);
// An even number, so each mode goes first (right after the other's heaviest phase) equally often.
const ROUNDS = Number(params.get("rounds") || 4);
const MEASURE_MS = Number(params.get("ms") || 1000);
const LATENCY_COMMITS = Number(params.get("latency") || 300);
const IN_FLIGHT = [1, 16, 64];
// Which task ends the worker's group-commit window (for experiments; default: the library's).
const SCHEDULER = params.get("scheduler") || undefined;
function openLog(name, mode) {
  return WaldenLog.open(name, { flushPerCommit: mode === "flushPerCommit", flushScheduler: SCHEDULER });
}

// Chunks of one-at-a-time commits alternate between the modes, so both see the same disk.
const LATENCY_CHUNK = 25;

// One round: both modes' logs open side by side (each in its own worker); every measurement
// alternates between them, the mode going first switching each round.
async function runRound(round) {
  const order = round % 2 ? ["flushPerCommit", "grouped"] : ["grouped", "flushPerCommit"];
  const logs = {};
  for (const mode of order) logs[mode] = await openLog(`bench-${mode}-${round}.wal`, mode);
  try {
    const result = {};
    for (const mode of order) {
      await commitOneByOne(logs[mode], LATENCY_COMMITS, []); // warm-up: file growth, JIT
      result[mode] = { times: [], before: await logs[mode].stats() };
    }
    for (let done = 0; done < LATENCY_COMMITS; done += LATENCY_CHUNK) {
      for (const mode of order) await commitOneByOne(logs[mode], LATENCY_CHUNK, result[mode].times);
    }
    for (const mode of order) {
      const { times, before } = result[mode];
      const after = await logs[mode].stats();
      // The worker's own drain + flush() time, told from the rest of the round trip.
      const flushMean = (after.flushMsTotal - before.flushMsTotal) / Math.max(1, after.flushes - before.flushes);
      const mean = times.reduce((a, b) => a + b, 0) / times.length;
      result[mode] = { latency: { p50: quantile(times, 0.5), p99: quantile(times, 0.99), mean, flushMean } };
    }
    for (const n of IN_FLIGHT) {
      for (const mode of order) {
        const before = await logs[mode].stats();
        result[mode][`inFlight${n}`] = await throughput(logs[mode], n, MEASURE_MS);
        if (n === 64) {
          // Where a commit's time goes at 64 in flight: the worker's busy time outside drain +
          // flush(), and drain + flush(), per commit; the rest is the page and the messages.
          const after = await logs[mode].stats();
          const commits = after.commits - before.commits;
          const flushMs = after.flushMsTotal - before.flushMsTotal;
          result[mode].workerUs64 = ((after.workerBusyMs - before.workerBusyMs - flushMs) * 1000) / commits;
          result[mode].flushUs64 = (flushMs * 1000) / commits;
        }
      }
    }
    for (const mode of order) {
      const stats = await logs[mode].stats();
      result[mode].maxCommitsPerFlush = stats.maxCommitsPerFlush;
      result[mode].commitsPerFlush = stats.commitsFlushed / Math.max(1, stats.flushes);
    }
    return result;
  } finally {
    for (const mode of order) await logs[mode].close();
  }
}

function summarize(rounds) {
  const out = {};
  for (const mode of ["grouped", "flushPerCommit"]) {
    const rs = rounds.map((r) => r[mode]);
    out[mode] = {
      latencyP50Ms: median(rs.map((r) => r.latency.p50)),
      latencyP99Ms: median(rs.map((r) => r.latency.p99)),
      latencyMeanMs: median(rs.map((r) => r.latency.mean)),
      flushMeanMs: median(rs.map((r) => r.latency.flushMean)),
      maxCommitsPerFlush: Math.max(...rs.map((r) => r.maxCommitsPerFlush)),
    };
    for (const n of IN_FLIGHT) out[mode][`commitsPerSec${n}`] = median(rs.map((r) => r[`inFlight${n}`]));
    out[mode].workerUsPerCommit64 = median(rs.map((r) => r.workerUs64));
    out[mode].flushUsPerCommit64 = median(rs.map((r) => r.flushUs64));
    out[mode].totalUsPerCommit64 = 1e6 / out[mode].commitsPerSec64;
  }
  out.ratio64 = out.grouped.commitsPerSec64 / out.flushPerCommit.commitsPerSec64;
  out.ratio64VsPerCommitAt1 = out.grouped.commitsPerSec64 / out.flushPerCommit.commitsPerSec1;
  return out;
}

function render(summary) {
  const fmt = (x) => (x >= 100 ? Math.round(x).toLocaleString("en") : x.toFixed(3));
  const rows = [
    ["durable commit p50 (ms), 1 at a time", "latencyP50Ms"],
    ["durable commit p99 (ms), 1 at a time", "latencyP99Ms"],
    ["durable commit mean (ms), 1 at a time", "latencyMeanMs"],
    ["of which drain + flush() in the worker, mean (ms)", "flushMeanMs"],
    ...IN_FLIGHT.map((n) => [`commits/s, ${n} in flight`, `commitsPerSec${n}`]),
    ["most commits in one flush", "maxCommitsPerFlush"],
  ];
  const html = rows
    .map(([label, key]) => `<tr><th>${label}</th><td>${fmt(summary.grouped[key])}</td><td>${fmt(summary.flushPerCommit[key])}</td></tr>`)
    .join("");
  document.getElementById("table").innerHTML =
    `<table><tr><th></th><th>group commit</th><th>flush per commit</th></tr>${html}</table>` +
    `<p>64 in flight: group commit is <b>${summary.ratio64.toFixed(1)}×</b> flush-per-commit.</p>`;
}

function renderTabs(tabs) {
  const element = document.getElementById("tabs");
  if (tabs.skipped) {
    element.textContent = tabs.skipped;
    return;
  }
  const fmt = (x) => Math.round(x).toLocaleString("en");
  element.innerHTML =
    `<table><tr><th></th><th>commits/s</th></tr>` +
    `<tr><th>one tab (the leader), 64 in flight</th><td>${fmt(tabs.oneTab64)}</td></tr>` +
    `<tr><th>one follower tab, 64 in flight</th><td>${fmt(tabs.follower64)}</td></tr>` +
    `<tr><th>three tabs, 64 in flight each (total)</th><td>${fmt(tabs.threeTabs64)}</td></tr></table>` +
    `<p>Three tabs: <b>${tabs.threeVsOne.toFixed(2)}×</b> one tab. A follower's commit, one at a time, ` +
    `takes <b>${tabs.followerOverheadUs.toFixed(0)} µs</b> longer than the leader's (p50 ${tabs.followerP50Ms.toFixed(3)} ms vs ${tabs.leaderP50Ms.toFixed(3)} ms).</p>`;
}

async function main() {
  await init();
  const rounds = [];
  for (let round = 0; round < ROUNDS; round++) {
    document.getElementById("status").textContent = `round ${round + 1} of ${ROUNDS}…`;
    rounds.push(await runRound(round));
  }
  const summary = summarize(rounds);
  summary.rounds = rounds;
  document.getElementById("status").textContent = "several tabs…";
  summary.tabs = await runTabsPhase({ rounds: ROUNDS, ms: MEASURE_MS });
  renderTabs(summary.tabs);
  summary.config = { rounds: ROUNDS, measureMs: MEASURE_MS, latencyCommits: LATENCY_COMMITS, payloadBytes: payload.length, crossOriginIsolated: self.crossOriginIsolated === true };
  render(summary);
  document.getElementById("raw").textContent = JSON.stringify(summary, null, 2);
  document.getElementById("status").textContent = "done";
  console.log("WALDEN_BENCH " + JSON.stringify(summary));
  window.waldenBench = summary;
}

main().catch((error) => {
  document.getElementById("status").textContent = `error (${error.kind || "?"}): ${error.message || error}`;
  console.error("WALDEN_BENCH_ERROR " + (error.message || error));
  window.waldenBench = { error: String(error.message || error) };
});
