// Preloaded into a Node DNS server by the tail bench (`node --import ./test/bench/tail-probe.ts`):
// records what the server's main thread did, on CLOCK_MONOTONIC (the clock of tail-client.c), so
// that each slow answer of a run can be matched with its cause (tail-analyze.ts):
//   M <id> <start ns> <end ns>    every 'message' callback of every UDP socket (the query's ID);
//   G <kind> <start ns> <end ns>  every GC pause (perf_hooks 'gc' entries; kind 1 = scavenge);
//   C <from ns> <to ns> <user ns> <system ns>  the main thread's CPU time over the records;
// written to TAIL_PROBE_FILE when the process gets SIGUSR2 (then the records start over).
// Cost: two performance.now() and three typed-array stores per datagram, the same for every server
// measured. Bench-only: nothing in src/ depends on it.
import dgram from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { PerformanceObserver, performance } from 'node:perf_hooks';

const file = process.env['TAIL_PROBE_FILE'];
if (file) {
  // performance.now() is uv_hrtime (CLOCK_MONOTONIC) minus the time origin, in ms.
  const originNs = Number(process.hrtime.bigint()) - performance.now() * 1e6;
  const capacity = 1 << 21;
  const ids = new Uint16Array(capacity);
  const starts = new Float64Array(capacity);
  const ends = new Float64Array(capacity);
  let count = 0;
  const gcs: number[] = [];
  let cpuAtReset = process.threadCpuUsage();
  let wallAtReset = performance.now();

  type On = (this: dgram.Socket, event: string, listener: (...args: unknown[]) => void) => dgram.Socket;
  const original = dgram.Socket.prototype.on as On;
  (dgram.Socket.prototype as { on: On }).on = function on(event, listener) {
    if (event !== 'message') return original.call(this, event, listener);
    const timed = (message: Buffer, rinfo: dgram.RemoteInfo) => {
      const start = performance.now();
      listener(message, rinfo);
      if (count < capacity) {
        ids[count] = message.length >= 2 ? (message[0]! << 8) | message[1]! : 0;
        starts[count] = start;
        ends[count] = performance.now();
        count++;
      }
    };
    return original.call(this, event, timed as (...args: unknown[]) => void);
  };

  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      gcs.push((entry as unknown as { detail: { kind: number } }).detail.kind, entry.startTime, entry.startTime + entry.duration);
    }
  }).observe({ entryTypes: ['gc'] });

  process.on('SIGUSR2', () => {
    const ns = (ms: number) => Math.round(originNs + ms * 1e6);
    const lines: string[] = [];
    for (let i = 0; i < count; i++) lines.push(`M ${ids[i]} ${ns(starts[i]!)} ${ns(ends[i]!)}`);
    for (let i = 0; i < gcs.length; i += 3) lines.push(`G ${gcs[i]} ${ns(gcs[i + 1]!)} ${ns(gcs[i + 2]!)}`);
    // The main thread's CPU time since the last dump: what the callbacks and pauses above do not
    // account for ran elsewhere on the thread (timers, promise jobs, I/O callbacks, the kernel).
    const cpu = process.threadCpuUsage(cpuAtReset);
    lines.push(`C ${ns(wallAtReset)} ${ns(performance.now())} ${cpu.user * 1000} ${cpu.system * 1000}`);
    writeFileSync(file, lines.join('\n') + '\n');
    count = 0;
    gcs.length = 0;
    cpuAtReset = process.threadCpuUsage();
    wallAtReset = performance.now();
  });
}
