// Prometheus metrics of the runtime's own memory work (heap-trim.ts): a trim stops the event loop,
// so an operator sees how often it ran and how long it held the loop. No labels.
import { Counter, type Registry } from '../metrics/prom-client.ts';
import { TRIM_QUIET_MS } from './heap-trim.ts';

export interface HeapTrimMetrics {
  trimmed(pauseMs: number): void;
}

export function createHeapTrimMetrics(register: Registry): HeapTrimMetrics {
  const trims = new Counter({
    name: 'meshdns_heap_trims_total',
    help: `Memory-reducing garbage collections run after RSS grew, once no DNS request had come for ${TRIM_QUIET_MS / 1000} s`,
    registers: [register],
  });
  const pause = new Counter({
    name: 'meshdns_heap_trim_pause_seconds_total',
    help: 'Event-loop time those collections took (a query arriving meanwhile waits for it)',
    registers: [register],
  });
  return {
    trimmed(pauseMs) {
      trims.inc();
      pause.inc(pauseMs / 1000);
    },
  };
}
