// src/metrics/prom-client.ts loads prom-client by its parts (its index costs +11 MiB of RSS more):
// the default metrics must stay the series prom-client's own collectDefaultMetrics exposes.
import * as PromClient from 'prom-client';
import { describe, expect, it } from 'vitest';
import { collectDefaultMetrics, Counter, Registry } from '../../../src/metrics/prom-client.ts';

describe('prom-client by its parts', () => {
  it('exposes the same default metric names, types and help as prom-client.collectDefaultMetrics, but for the GC durations', async () => {
    const ours = new Registry();
    collectDefaultMetrics({ register: ours, prefix: 'meshdns_' });
    const theirs = new PromClient.Registry();
    PromClient.collectDefaultMetrics({ register: theirs, prefix: 'meshdns_' });
    const shape = async (registry: PromClient.Registry) =>
      (await registry.getMetricsAsJSON()).map((metric) => `${metric.name} ${metric.type} ${metric.help}`).sort();
    // nodejs_gc_duration_seconds is left out on purpose: its GC observer costs every scavenge
    // (src/metrics/prom-client.ts).
    const gc = (line: string) => line.startsWith('meshdns_nodejs_gc_duration_seconds ');
    expect((await shape(theirs)).filter(gc)).toHaveLength(1);
    expect((await shape(ours)).filter(gc)).toEqual([]);
    expect(await shape(ours)).toEqual((await shape(theirs)).filter((line) => !gc(line)));
  });

  it('counts CPU seconds itself: process_cpu_seconds_total grows with work and equals user + system', async () => {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry, prefix: 'x_' });
    // One scrape: the user counter's collect sets all three, as in prom-client.
    const scrape = async () => {
      const metrics = await registry.getMetricsAsJSON();
      const value = (name: string) => metrics.find((metric) => metric.name === name)!.values[0]!.value;
      return { user: value('x_process_cpu_user_seconds_total'), system: value('x_process_cpu_system_seconds_total'), total: value('x_process_cpu_seconds_total') };
    };
    const before = await scrape();
    const until = Date.now() + 50;
    while (Date.now() < until) Math.sqrt(Math.random());
    const after = await scrape();
    expect(after.total).toBeGreaterThan(before.total);
    expect(after.user + after.system).toBeCloseTo(after.total, 6);
  });

  it('gives the classes prom-client exports (a Registry from either works with the other)', () => {
    expect(Counter).toBe(PromClient.Counter);
    expect(Registry).toBe(PromClient.Registry);
  });
});
