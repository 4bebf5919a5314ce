import dgram from 'node:dgram';
import { describe, expect, it } from 'vitest';
import type { ResponseMismatch } from '../../../src/forward/message.ts';
import { exchangeUdp } from '../../../src/forward/udp-exchange.ts';
import { freePort } from '../../support/processes.ts';
import {
  closeFakesAndCheckHandles, answerFor, firstAddress, neverAnswer, startFakeUpstream, upstreamQuery, type FakeUpstream, type UdpHandler,
} from './fake-upstream.ts';

// Every exchange closes its socket: nothing of ours may stay open.
const fakes = closeFakesAndCheckHandles();

async function fake(udp: UdpHandler): Promise<FakeUpstream> {
  const upstream = await startFakeUpstream({ udp });
  fakes.push(upstream);
  return upstream;
}

const query = upstreamQuery('www.example.com');

describe('exchangeUdp', () => {
  it('returns the upstream response, sent with a random ID from a fresh socket', async () => {
    const upstream = await fake((q, reply) => reply(answerFor(q, { address: '198.51.100.7' })));
    const outcomes = [];
    for (let i = 0; i < 6; i++) outcomes.push(await exchangeUdp(upstream.address, query, { timeoutMs: 1000 }));
    for (const outcome of outcomes) {
      expect(outcome.kind).toBe('response');
      if (outcome.kind === 'response') expect(firstAddress(outcome.response)).toBe('198.51.100.7');
    }
    expect(upstream.queries).toHaveLength(6);
    // RFC 5452 §9.2: IDs and source ports vary (six equal draws of 16-bit values would be a bug).
    expect(new Set(upstream.queries.map((q) => q.id)).size).toBeGreaterThan(1);
    expect(new Set(upstream.queries.map((q) => q.source)).size).toBeGreaterThan(1);
    expect(upstream.queries[0]).toMatchObject({ qname: 'www.example.com', transport: 'udp' });
  });

  it('ignores answers with a wrong ID or a wrong question and still takes the right one', async () => {
    const upstream = await fake((q, reply) => {
      reply(answerFor(q, { id: q.id ^ 0x8000, address: '203.0.113.66' }));
      reply(answerFor(q, { name: 'evil.example', address: '203.0.113.66' }));
      reply(answerFor(q, { qtype: 28, address: '203.0.113.66' }));
      setTimeout(() => reply(answerFor(q, { address: '192.0.2.10' })), 20);
    });
    const mismatches: ResponseMismatch[] = [];
    const outcome = await exchangeUdp(upstream.address, query, { timeoutMs: 1000, onMismatch: (reason) => mismatches.push(reason) });
    expect(outcome.kind).toBe('response');
    if (outcome.kind === 'response') expect(firstAddress(outcome.response)).toBe('192.0.2.10');
    expect(mismatches).toEqual(['id', 'question', 'question']);
  });

  it('never sees an answer from another port: the connected socket drops it (RFC 5452 §9.1 source check)', async () => {
    const impostor = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => impostor.bind(0, '127.0.0.1', resolve));
    try {
      const upstream = await fake((q, reply, { rinfo }) => {
        // A perfect forgery (right ID, right question) from the wrong port, then the real answer.
        impostor.send(answerFor(q, { address: '203.0.113.66' }), rinfo.port, rinfo.address);
        setTimeout(() => reply(answerFor(q, { address: '192.0.2.10' })), 30);
      });
      const outcome = await exchangeUdp(upstream.address, query, { timeoutMs: 1000 });
      expect(outcome.kind === 'response' && firstAddress(outcome.response)).toBe('192.0.2.10');

      // Only the forgery: the exchange times out rather than accepting it.
      upstream.onUdp((q, _reply, { rinfo }) => impostor.send(answerFor(q), rinfo.port, rinfo.address));
      expect(await exchangeUdp(upstream.address, query, { timeoutMs: 150 })).toEqual({ kind: 'timeout' });
    } finally {
      await new Promise<void>((resolve) => impostor.close(() => resolve()));
    }
  });

  it('reports TC=1 as truncated', async () => {
    const upstream = await fake((q, reply) => reply(answerFor(q, { tc: true })));
    expect(await exchangeUdp(upstream.address, query, { timeoutMs: 1000 })).toEqual({ kind: 'truncated' });
  });

  it('times out after timeoutMs when nothing answers, and closes the socket', async () => {
    const upstream = await fake(neverAnswer);
    const started = performance.now();
    expect(await exchangeUdp(upstream.address, query, { timeoutMs: 120 })).toEqual({ kind: 'timeout' });
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(115);
    expect(elapsed).toBeLessThan(400);
    expect(upstream.queries).toHaveLength(1);
  });

  it('fails at once with a network error when nothing listens (ICMP port unreachable)', async () => {
    const port = await freePort();
    const started = performance.now();
    const outcome = await exchangeUdp({ host: '127.0.0.1', port, family: 'ipv4' }, query, { timeoutMs: 2000 });
    expect(outcome).toEqual({ kind: 'network', error: 'ECONNREFUSED' });
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('ends as aborted when the signal fires, before or during the exchange', async () => {
    const upstream = await fake(neverAnswer);
    expect(await exchangeUdp(upstream.address, query, { timeoutMs: 1000, signal: AbortSignal.abort() })).toEqual({ kind: 'aborted' });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 30);
    const started = performance.now();
    expect(await exchangeUdp(upstream.address, query, { timeoutMs: 5000, signal: controller.signal })).toEqual({ kind: 'aborted' });
    expect(performance.now() - started).toBeLessThan(1000);
  });
});
