// prom-client, loaded by the parts we use instead of through its package index.
//
// Why: `import … from 'prom-client'` evaluates index.js, which also loads the Pushgateway (node:https,
// node:zlib, node:tls), the cluster aggregator (node:cluster) and, through the default CPU metric,
// @opentelemetry/api (only read for exemplars, which we do not enable). Measured on Node 24.21 with
// node:http, net, dgram and crypto already loaded (npm run bench:memory prints it): the index costs
// +14.5 MiB of RSS, registry + counter + gauge + histogram alone +3.1 MiB, and the default metrics
// without the CPU module +3 MiB more; @opentelemetry/api alone is +7.9 MiB. prom-client has no
// "exports" map, so these files are its public surface as much as index.js is; the version is
// pinned in package.json and test/unit/metrics/prom-client.test.ts checks the metric names.
//
// The same classes as index.js exports (index.js re-exports these very modules), so a Registry made
// by a test from 'prom-client' works here.

import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';

const require = createRequire(import.meta.url);

export const Registry = require('prom-client/lib/registry') as typeof PromClient.Registry;
export type Registry = PromClient.Registry;
export const Counter = require('prom-client/lib/counter') as typeof PromClient.Counter;
export type Counter<T extends string = string> = PromClient.Counter<T>;
export const Gauge = require('prom-client/lib/gauge') as typeof PromClient.Gauge;
export type Gauge<T extends string = string> = PromClient.Gauge<T>;
export const Histogram = require('prom-client/lib/histogram') as typeof PromClient.Histogram;
export type Histogram<T extends string = string> = PromClient.Histogram<T>;

type DefaultMetric = (registry: PromClient.Registry, config: { prefix: string; eventLoopMonitoringPrecision: number }) => void;

/**
 * prom-client's default metrics except processCpuTotal, in its order (lib/defaultMetrics.js), and
 * except `gc` (nodejs_gc_duration_seconds). That one observes every GC through perf_hooks, and
 * any 'gc' observer, even one that only adds up durations, makes Node build an entry per
 * collection that is still alive at the next scavenge: ~4.4 KiB copied and promoted per scavenge
 * at 20k qps (a scavenge every ~60 ms with the 1 MiB young generation), scavenges of 0.45 instead
 * of 0.38 ms (issue 9 item 3; README, Performance). Run with --trace-gc to see the collections.
 */
const DEFAULT_METRIC_MODULES = [
  'processStartTime', 'osMemoryHeap', 'processOpenFileDescriptors', 'processMaxFileDescriptors', 'eventLoopLag',
  'processResources', 'processHandles', 'processRequests', 'heapSizeAndUsed', 'heapSpacesSizeAndUsed', 'version',
];

/**
 * The same series as prom-client's collectDefaultMetrics({ register, prefix }): process_cpu_* are
 * counted here (prom-client's module requires @opentelemetry/api at load, +7.9 MiB), with the same
 * names, help texts and values: CPU seconds since the process started, read at scrape time.
 */
export function collectDefaultMetrics({ register, prefix }: { register: PromClient.Registry; prefix: string }): void {
  const config = { prefix, eventLoopMonitoringPrecision: 10 };
  let last = process.cpuUsage();
  const user = new Counter({
    name: `${prefix}process_cpu_user_seconds_total`, help: 'Total user CPU time spent in seconds.', registers: [register],
    // One collect sets all three, as prom-client's does.
    collect() {
      const now = process.cpuUsage();
      const userMicros = now.user - last.user;
      const systemMicros = now.system - last.system;
      last = now;
      user.inc(userMicros / 1e6);
      system.inc(systemMicros / 1e6);
      total.inc((userMicros + systemMicros) / 1e6);
    },
  });
  const system = new Counter({ name: `${prefix}process_cpu_system_seconds_total`, help: 'Total system CPU time spent in seconds.', registers: [register] });
  const total = new Counter({ name: `${prefix}process_cpu_seconds_total`, help: 'Total user and system CPU time spent in seconds.', registers: [register] });
  for (const name of DEFAULT_METRIC_MODULES) {
    if (name === 'processResources' && typeof process.getActiveResourcesInfo !== 'function') continue;
    (require(`prom-client/lib/metrics/${name}`) as DefaultMetric)(register, config);
  }
}
