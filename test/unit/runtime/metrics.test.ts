import { describe, expect, it } from 'vitest';
import { Registry } from '../../../src/metrics/prom-client.ts';
import { createHeapTrimMetrics } from '../../../src/runtime/metrics.ts';

describe('heap trim metrics', () => {
  it('count each trim and add its pause in seconds, with no labels', async () => {
    const register = new Registry();
    const metrics = createHeapTrimMetrics(register);
    const text = async () => register.metrics();
    expect(await text()).toMatch(/^meshdns_heap_trims_total 0$/m);
    metrics.trimmed(86);
    metrics.trimmed(53.5);
    expect(await text()).toMatch(/^meshdns_heap_trims_total 2$/m);
    const pause = /^meshdns_heap_trim_pause_seconds_total (\S+)$/m.exec(await text());
    expect(Number(pause?.[1])).toBeCloseTo(0.1395, 6);
  });
});
