// The dedicated worker that live mode runs its OPFS log in (OPFS sync access handles exist only
// in dedicated workers). It loads the dashboard's own wasm through Trunk's JavaScript glue
// (unhashed names: Trunk.toml sets `filehash = false`) and hands control to walden-wasm's
// `workerMain`, which every binary linking walden-wasm exports. The dashboard's `main` sees no
// window here and mounts nothing.
//
// "Crash": a message on the BroadcastChannel below makes the worker end itself at once
// (`self.close()` discards every queued task): commits appended but not yet flushed are
// abandoned, nothing is flushed or closed, and the file's lock goes with the worker, just as
// when a tab is killed.
import init, { workerMain } from "./walden-dashboard.js";

const crash = new BroadcastChannel("walden-dashboard-crash");
crash.onmessage = () => self.close();

try {
  await init();
  workerMain();
} catch (error) {
  self.postMessage({ fatal: String((error && error.stack) || error) });
}
