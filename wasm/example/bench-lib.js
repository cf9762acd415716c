// What the benchmark pages share (bench.js, bench-tabs.js, bench-tab.js): the workloads, timed
// with performance.now() (microsecond resolution: the pages are served cross-origin isolated).
export const payload = new Uint8Array(100).fill(0x42);

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

export const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

// `count` commits one at a time; their latencies (ms) are pushed onto `times`.
export async function commitOneByOne(log, count, times) {
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    await log.commit(payload);
    times.push(performance.now() - start);
  }
}

// Keeps `inFlight` commits outstanding for `ms`; returns durable commits per second.
export function throughput(log, inFlight, ms) {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const deadline = start + ms;
    let outstanding = 0;
    let done = 0;
    const issue = () => {
      while (outstanding < inFlight && performance.now() < deadline) {
        outstanding++;
        log.commit(payload).then(() => {
          outstanding--;
          done++;
          if (performance.now() < deadline) issue();
          else if (outstanding === 0) resolve(done / ((performance.now() - start) / 1000));
        }, reject);
      }
    };
    issue();
  });
}
