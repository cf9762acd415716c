// The example app: plain JavaScript over the walden-wasm package (served under ./pkg/).
// Opens the log "example.wal", lists its records, commits new ones, shows the durable LSN and
// the worker's events. Errors are shown with their `kind`. In a second tab the page shares the log (its role is
// shown with the status).
import init, { WaldenLog } from "./pkg/walden_wasm.js";

const $ = (id) => document.getElementById(id);
const decoder = new TextDecoder();
const encoder = new TextEncoder();

function showRecord(lsn, payload) {
  const item = document.createElement("li");
  item.dataset.lsn = String(lsn);
  item.textContent = `${lsn}: ${decoder.decode(payload)}`;
  $("records").append(item);
}

function showEvent(event) {
  const line = document.createElement("div");
  line.textContent = JSON.stringify(event, (_, v) => (typeof v === "bigint" ? Number(v) : v));
  $("events").prepend(line);
  while ($("events").childElementCount > 50) $("events").lastChild.remove();
}

async function main() {
  await init();
  let log;
  try {
    log = await WaldenLog.open("example.wal");
  } catch (error) {
    $("status").textContent = `error (${error.kind}): ${error.message}`;
    $("status").className = "error";
    document.body.dataset.state = `error:${error.kind}`;
    return;
  }
  window.waldenLog = log;
  log.onEvent(showEvent);
  for (const { lsn, payload } of await log.read(0n)) showRecord(lsn, payload);
  $("durable").textContent = String(log.durableLsn);
  $("status").textContent = `open (${log.role})`;
  $("commit").disabled = false;
  document.body.dataset.state = "open";

  $("form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = $("text").value;
    $("text").value = "";
    try {
      const lsn = await log.commit(encoder.encode(text));
      showRecord(lsn, encoder.encode(text));
      $("durable").textContent = String(log.durableLsn);
    } catch (error) {
      $("status").textContent = `error (${error.kind}): ${error.message}`;
      $("status").className = "error";
    }
  });
  $("persist").addEventListener("click", async () => {
    $("persisted").textContent = (await WaldenLog.requestPersistence())
      ? "storage will be kept"
      : "the browser declined (it may grant it later)";
  });
}

main().catch((error) => {
  $("status").textContent = `error: ${error}`;
  $("status").className = "error";
  document.body.dataset.state = "error:start";
});
