// Preloaded into a mesh-dns process by the registry-stall bench (`node --import`): measures the
// process's own event-loop stalls and appends one line per 250 ms window to the file named by
// BENCH_LOOP_STALL_FILE: `<epoch ms> <max delay ms> <longest busy ms>`.
//   max delay: perf_hooks.monitorEventLoopDelay (1 ms resolution), wall time — on a loaded machine
//     it includes time the OS did not run the process at all;
//   longest busy: the most main-thread CPU time (process.threadCpuUsage) spent between two
//     consecutive 1 ms timer ticks, i.e. how long the loop computed without letting a timer (or a
//     DNS query) in — what the stall would be on an idle machine.
// Bench-only: nothing in src/ depends on it.
import { appendFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const file = process.env['BENCH_LOOP_STALL_FILE'];
if (file) {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  const cpuMs = () => {
    const usage = process.threadCpuUsage();
    return (usage.user + usage.system) / 1000;
  };
  let lastCpu = cpuMs();
  let busiest = 0;
  const tick = setInterval(() => {
    const cpu = cpuMs();
    busiest = Math.max(busiest, cpu - lastCpu);
    lastCpu = cpu;
  }, 1);
  tick.unref();
  const report = setInterval(() => {
    appendFileSync(file, `${Date.now()} ${(histogram.max / 1e6).toFixed(2)} ${busiest.toFixed(2)}\n`);
    histogram.reset();
    busiest = 0;
  }, 250);
  report.unref();
}
