// The rate-limit stage through the whole query handler (a fixed clock, so the bucket does not
// refill mid-test), and what it costs per query.

import { describe, expect, it } from 'vitest';
import { createRateLimitStage, type RateLimitOptions } from '../../../../src/pipeline/stages/rate-limit.ts';
import type { ClientInfo } from '../../../../src/pipeline/query-handler.ts';
import { EdeCode, Rcode } from '../../../../src/wire/constants.ts';
import { buildQuery, decode, makeHandler } from '../../../support/dns-messages.ts';

const OPTIONS: RateLimitOptions = { queriesPerSecond: 10, burst: 20, prefixes: { ipv4: 32, ipv6: 56 }, slip: 2, allowNetworks: ['10.9.0.0/16'], maxClients: 1024 };
const fixedClock = { now: () => 1_000 };
const QUERY = buildQuery({ name: 'hello.mesh.local', edns: {} });

function setUp(options: RateLimitOptions = OPTIONS) {
  const stage = createRateLimitStage(options, fixedClock);
  const test = makeHandler({ records: [{ name: 'hello', type: 'A', value: '192.0.2.1' }], pipeline: { rateLimit: stage } });
  const from = (address: string, transport: 'udp' | 'tcp' = 'udp'): ClientInfo => ({ transport, family: address.includes(':') ? 'ipv6' : 'ipv4', address });
  async function burst(address: string, count: number, transport: 'udp' | 'tcp' = 'udp') {
    const tally = { answered: 0, dropped: 0, truncated: 0, refused: 0 };
    for (let index = 0; index < count; index++) {
      const response = await test.handler(QUERY, from(address, transport));
      if (response === null) {
        tally.dropped++;
        continue;
      }
      const decoded = decode(response);
      if (decoded.tc) {
        expect(decoded).toMatchObject({ rcode: Rcode.NOERROR, counts: { an: 0, ns: 0 } });
        tally.truncated++;
      } else if (decoded.rcode === Rcode.REFUSED) {
        expect(decoded.opt?.ede?.code).toBe(EdeCode.OTHER);
        tally.refused++;
      } else {
        expect(decoded.answers.map((record) => record.address)).toEqual(['192.0.2.1']);
        tally.answered++;
      }
    }
    return tally;
  }
  return { stage, test, burst, from };
}

describe('rate-limit stage', () => {
  it('cuts a UDP burst over the limit: the burst answered, then half dropped and half TC=1 (slip 2); another source fully served', async () => {
    const { stage, burst } = setUp();
    expect(await burst('10.0.0.2', 100)).toEqual({ answered: 20, dropped: 40, truncated: 40, refused: 0 });
    expect(await burst('10.0.0.3', 20)).toEqual({ answered: 20, dropped: 0, truncated: 0, refused: 0 });
    expect(stage.counts).toEqual({ dropped: 40, slipped: 40, refused: 0 });
    expect(stage.table.size).toBe(2);
  });

  it('TCP over the limit is REFUSED with an EDE, and has its own allowance (a slipped client is served over TCP)', async () => {
    const { burst } = setUp();
    expect((await burst('10.0.0.2', 30)).answered).toBe(20);
    expect(await burst('10.0.0.2', 30, 'tcp')).toEqual({ answered: 20, dropped: 0, truncated: 0, refused: 10 });
  });

  it('slip 0 drops every over-limit UDP query; slip 1 answers each with TC=1', async () => {
    expect(await setUp({ ...OPTIONS, slip: 0 }).burst('10.0.0.2', 30)).toEqual({ answered: 20, dropped: 10, truncated: 0, refused: 0 });
    expect(await setUp({ ...OPTIONS, slip: 1 }).burst('10.0.0.2', 30)).toEqual({ answered: 20, dropped: 0, truncated: 10, refused: 0 });
  });

  it('allow-listed networks are exempt', async () => {
    const { burst } = setUp();
    expect(await burst('10.9.1.1', 200)).toEqual({ answered: 200, dropped: 0, truncated: 0, refused: 0 });
  });

  it('IPv6 clients of one /56 share a bucket; another /56 has its own', async () => {
    const { burst } = setUp();
    // ULA: inside the default access policy, so the answers are NOERROR.
    expect((await burst('fd00:db8:0:100::1', 15)).answered).toBe(15);
    expect((await burst('fd00:db8:0:1ff::2', 15)).answered).toBe(5);
    expect((await burst('fd00:db8:0:200::1', 15)).answered).toBe(15);
  });

  it('with a prefix shorter than the address, an allow-list entry narrower than it still exempts only itself', async () => {
    const { burst } = setUp({ ...OPTIONS, prefixes: { ipv4: 24, ipv6: 56 }, allowNetworks: ['10.0.0.7/32'] });
    expect((await burst('10.0.0.7', 50)).answered).toBe(50);
    expect((await burst('10.0.0.8', 50)).answered).toBe(20);
  });

  it('drops are counted as meshdns_dns_dropped_total{reason="rate_limited"}', async () => {
    const { test, burst } = setUp({ ...OPTIONS, slip: 0 });
    await burst('10.0.0.2', 25);
    const metric = await test.metrics.getSingleMetric('meshdns_dns_dropped_total')!.get();
    expect(metric.values.find((value) => value.labels.reason === 'rate_limited')?.value).toBe(5);
  });

  it('costs little per query: measured through the whole handler, with and without the stage', () => {
    const rounds = 200_000;
    const measure = (withStage: boolean, address: string): number => {
      const stage = createRateLimitStage({ ...OPTIONS, queriesPerSecond: 1e9, burst: 1e9, allowNetworks: [] }, fixedClock);
      const { handler } = makeHandler({ records: [{ name: 'hello', type: 'A', value: '192.0.2.1' }], pipeline: withStage ? { rateLimit: stage } : {} });
      const client: ClientInfo = { transport: 'udp', family: address.includes(':') ? 'ipv6' : 'ipv4', address };
      for (let index = 0; index < 20_000; index++) handler(QUERY, client);
      const started = process.hrtime.bigint();
      for (let index = 0; index < rounds; index++) handler(QUERY, client);
      return Number(process.hrtime.bigint() - started) / rounds;
    };
    const stageAlone = (address: string, family: 'ipv4' | 'ipv6'): number => {
      const stage = createRateLimitStage({ ...OPTIONS, queriesPerSecond: 1e9, burst: 1e9, allowNetworks: [] }, fixedClock);
      const context = { request: null as never, transport: 'udp' as const, family, clientAddress: address, recursionAllowed: false, meshAllowed: false, zoneView: 0 };
      for (let index = 0; index < 20_000; index++) stage.resolve(context, () => { throw new Error('unused'); });
      const started = process.hrtime.bigint();
      for (let index = 0; index < rounds; index++) stage.resolve(context, () => { throw new Error('unused'); });
      return Number(process.hrtime.bigint() - started) / rounds;
    };
    const without = measure(false, '10.0.0.2');
    const withV4 = measure(true, '10.0.0.2');
    const aloneV4 = stageAlone('10.0.0.2', 'ipv4');
    const aloneV6 = stageAlone('2001:db8::1', 'ipv6');
    console.log(`[rate-limit micro-benchmark] handler, authoritative A: ${without.toFixed(0)} ns/query without the stage, ${withV4.toFixed(0)} ns with it (IPv4 /32); the stage alone: ${aloneV4.toFixed(0)} ns IPv4 /32, ${aloneV6.toFixed(0)} ns IPv6 /56`);
    // Loose bound (shared, noisy machine): the stage is a small part of a query's cost.
    expect(aloneV4).toBeLessThan(1_000);
  });
});
