// Compile-time check of the package's TypeScript declarations (scripts/lib/build-wasm-pkg.sh
// runs `tsc --noEmit --strict` on it against the built package). Never run. Each
// `@ts-expect-error` fails the check if a declaration degrades to `any`.
import init, {
  WaldenLog,
  formatVersion,
  type OpenOptions,
  type RecoveryReport,
  type WaldenError,
  type WaldenEvent,
  type WaldenRecord,
  type WaldenStats,
} from "./pkg/walden_wasm.js";

export async function exercise(): Promise<void> {
  await init();
  const version: number = formatVersion();
  const options: OpenOptions = {
    flushPerCommit: false,
    workerUrl: "./pkg/walden-worker.js",
    durability: "buffered",
    recovery: "pointInTime",
    maxPendingOps: 1024,
    maxPendingBytes: 1 << 20,
  };
  const log: WaldenLog = await WaldenLog.open("typed.wal", options);
  const defaults: WaldenLog = await WaldenLog.open("typed-defaults.wal");
  const lsn: bigint = await log.commit(new Uint8Array([1, 2, 3]));
  const appended: bigint = await log.append(new Uint8Array([4]));
  const records: WaldenRecord[] = await log.read(lsn);
  const limited: WaldenRecord[] = await log.read(0n, 4096);
  const payload: Uint8Array | undefined = records[0]?.payload;
  const stats: WaldenStats = await log.stats();
  const memory: number = stats.workerMemoryBytes;
  const busy: number = stats.workerBusyMs;
  const role: "leader" | "follower" = log.role;
  const report: RecoveryReport = log.recovery;
  const tailKind: "zeroed" | "torn" | "unsynced" | "discarded" | undefined = report.tail?.kind;
  for await (const record of log.records()) {
    const at: bigint = record.lsn;
    void at;
  }
  for await (const record of log.records(lsn)) void record.payload;
  const flushMs: number = stats.flushMsTotal;
  const durable: bigint = log.durableLsn;
  const base: bigint = await log.truncate();
  log.onEvent((event: WaldenEvent) => {
    const kind: string = event.type;
    if (event.type === "flushFinished") {
      const durableAt: bigint = event.durable;
      const ok: boolean = event.ok;
      void [durableAt, ok];
    }
    // @ts-expect-error an appended event has no `durable`
    if (event.type === "appended") void event.durable;
    void kind;
  });
  log.terminate();
  const persisted: boolean = await WaldenLog.requestPersistence();
  const closed: bigint = await log.close();
  try {
    await defaults.close();
  } catch (error) {
    const kind: WaldenError["kind"] = (error as WaldenError).kind;
    if (kind === "leaderLost") void kind;
    void kind;
  }
  // @ts-expect-error a record is bytes, not a string
  await log.commit("text");
  // @ts-expect-error LSNs are bigints
  const wrong: number = await log.commit(new Uint8Array());
  // @ts-expect-error a role is "leader" or "follower"
  const noRole: "primary" = log.role;
  // @ts-expect-error durability is "flush" or "buffered"
  const bad: OpenOptions = { durability: "eventually" };
  void [noRole, memory, busy, role, tailKind, flushMs, version, appended, limited, payload, stats, durable, base, persisted, closed, wrong, bad];
}
