// ArrayHistogram (src/metrics/array-histogram.ts) must expose exactly what a prom-client Histogram
// with the same label, buckets and observations exposes: the text a scrape reads and the JSON.
import * as PromClient from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ArrayHistogram } from '../../../src/metrics/array-histogram.ts';
import { seededRandom } from '../../support/seeded-random.ts';

const BUCKETS = [0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 6.5];
const PROTOS = ['udp', 'tcp'] as const;

function pair() {
  const theirsRegistry = new PromClient.Registry();
  const theirs = new PromClient.Histogram({ name: 'x_duration_seconds', help: 'Help text.', labelNames: ['proto'], buckets: BUCKETS, registers: [theirsRegistry] });
  const oursRegistry = new PromClient.Registry();
  const ours = new ArrayHistogram({ name: 'x_duration_seconds', help: 'Help text.', labelName: 'proto', labelValues: PROTOS, buckets: BUCKETS, registers: [oursRegistry] });
  const observe = (proto: 0 | 1, value: number) => {
    theirs.labels(PROTOS[proto]).observe(value);
    ours.observe(proto, value);
  };
  const expectSame = async () => {
    expect(await oursRegistry.metrics()).toBe(await theirsRegistry.metrics());
    expect(await oursRegistry.getMetricsAsJSON()).toEqual(await theirsRegistry.getMetricsAsJSON());
  };
  return { theirs, ours, theirsRegistry, oursRegistry, observe, expectSame };
}

describe('ArrayHistogram', () => {
  it('exposes nothing before the first observation, like prom-client', async () => {
    const { expectSame, oursRegistry } = pair();
    await expectSame();
    expect(await oursRegistry.metrics()).not.toContain('x_duration_seconds_count');
  });

  it('same text and JSON as a prom-client Histogram: bounds inclusive, values above the last bucket in +Inf only, series in the order first observed', async () => {
    const { observe, expectSame } = pair();
    // tcp first: prom-client lists a series from its first observation on.
    observe(1, 0.0003);
    await expectSame();
    for (const bound of BUCKETS) observe(0, bound);
    observe(0, 0);
    observe(1, 7);
    observe(1, 1e6);
    const next = seededRandom(9).next;
    for (let index = 0; index < 5000; index++) observe(next() < 0.5 ? 0 : 1, next() ** 4 * 8);
    await expectSame();
  });

  it('reset (Registry.resetMetrics) starts over, as prom-client does', async () => {
    const { observe, expectSame, theirsRegistry, oursRegistry } = pair();
    observe(0, 0.001);
    observe(1, 0.002);
    theirsRegistry.resetMetrics();
    oursRegistry.resetMetrics();
    await expectSame();
    observe(1, 0.004);
    await expectSame();
  });

  it('refuses a value that is not a finite number, as prom-client does', () => {
    const { ours } = pair();
    expect(() => ours.observe(0, Number.NaN)).toThrow(TypeError);
    expect(() => ours.observe(0, Number.POSITIVE_INFINITY)).toThrow(TypeError);
  });
});
