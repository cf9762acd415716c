// Walden's browser package from a Vite app, imported by name. Vite bundles the package's
// module, its wasm (found through `new URL(..., import.meta.url)`) and the dedicated worker the
// log runs in (`new Worker(new URL(...), {type: "module"})` inside the package) with its
// default settings: no plugin and no vite.config.js.
//
// Each load opens "vite-example.wal", commits three records, reads the whole log back with
// `records()` (an async iterator) and closes the log. The outcome is shown on the page and left
// in `window.viteResult` (scripts/lib/wasm-vite.mjs reads it): LSNs as decimal strings.
import init, { WaldenLog } from "walden-wasm";

const LOG_NAME = "vite-example.wal";
const $ = (id) => document.getElementById(id);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

function showRecord(lsn, text) {
  const item = document.createElement("li");
  item.dataset.lsn = String(lsn);
  item.textContent = `${lsn}: ${text}`;
  $("records").append(item);
}

async function main() {
  await init();
  const log = await WaldenLog.open(LOG_NAME);
  const load = `${new Date().toISOString()} ${Math.random().toString(36).slice(2, 8)}`;
  const committed = [];
  for (let i = 1; i <= 3; i++) {
    const text = `vite load ${load}, record ${i}`;
    // Resolves once the record is durable in OPFS, with its LSN (a bigint).
    const lsn = await log.commit(encoder.encode(text));
    committed.push({ lsn: String(lsn), text });
  }
  const read = [];
  for await (const { lsn, payload } of log.records()) {
    const text = decoder.decode(payload);
    read.push({ lsn: String(lsn), text });
    showRecord(lsn, text);
  }
  // The same records through read(), the paged call records() is built on.
  const page = await log.read(0n);
  const durableLsn = String(log.durableLsn);
  await log.close();
  setStatus(`committed ${committed.length} records; the log holds ${read.length}`);
  document.body.dataset.state = "done";
  window.viteResult = {
    committed,
    read,
    readPageCount: page.length,
    durableLsn,
    crossOriginIsolated: self.crossOriginIsolated,
  };
}

main().catch((error) => {
  const kind = (error && error.kind) || "start";
  setStatus(`error (${kind}): ${(error && error.message) || error}`, true);
  document.body.dataset.state = `error:${kind}`;
  window.viteResult = { error: { kind, message: String((error && error.message) || error) } };
});
