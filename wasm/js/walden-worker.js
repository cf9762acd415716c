// The dedicated worker a WaldenLog runs its log in (OPFS sync access handles exist only in
// dedicated workers). It loads the same wasm module as the page and hands control to the
// crate's `workerMain`, which posts {ready: true} once it listens. Start it as a module worker:
// `new Worker(url, {type: "module"})`; WaldenLog.open does this for you.
//
// No top-level await: bundlers (Vite's default worker format among them) may turn this file
// into a classic worker script, where top-level await is a syntax error.
import init, { workerMain } from "./walden_wasm.js";

init()
  .then(() => workerMain())
  .catch((error) => {
    self.postMessage({ fatal: String((error && error.stack) || error) });
  });
