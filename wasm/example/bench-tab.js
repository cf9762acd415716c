// A helper tab of the benchmark's several-tabs phase (bench-tabs.js): on "join" it opens the
// bench page's log (as a follower, since the bench page leads), then runs the workloads it is
// told to over the BroadcastChannel "walden-bench-tabs" and answers with the figures.
import init, { WaldenLog } from "./pkg/walden_wasm.js";
import { commitOneByOne, throughput } from "./bench-lib.js";

const me = Math.random().toString(36).slice(2);
const status = (text) => { document.getElementById("status").textContent = text; };
let log;

async function main() {
  await init();
  const bc = new BroadcastChannel("walden-bench-tabs");
  bc.onmessage = async ({ data }) => {
    try {
      if (data.cmd === "join") {
        if (log) await log.close();
        log = await WaldenLog.open(data.name);
        status(`joined ${data.name} as ${log.role}`);
        bc.postMessage({ joined: me, role: log.role });
      } else if (data.to !== me) {
        // Someone else's.
      } else if (data.cmd === "throughput") {
        bc.postMessage({ reply: data.id, rate: await throughput(log, data.inFlight, data.ms) });
      } else if (data.cmd === "latency") {
        const times = [];
        await commitOneByOne(log, data.count, times);
        bc.postMessage({ reply: data.id, times });
      } else if (data.cmd === "close") {
        await log.close();
        log = undefined;
        status("closed; waiting for bench.html…");
      }
    } catch (error) {
      status(`error (${error.kind || "?"}): ${error.message || error}`);
      console.error("WALDEN_BENCH_TAB_ERROR " + (error.message || error));
    }
  };
  document.body.dataset.state = "ready";
}

main();
