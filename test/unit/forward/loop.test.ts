import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { ListenAddress } from '../../../src/listeners/address.ts';
import { createLoopDetector, selfListener, LOOP_PROBE_SUFFIX, loopProbeQuery, type LoopDetector } from '../../../src/forward/loop.ts';
import { buildUpstreamQuery } from '../../../src/forward/message.ts';
import type { UpstreamAddress, UpstreamQuery } from '../../../src/forward/types.ts';
import { parseRequest } from '../../../src/wire/request.ts';
import {
  closeFakesAndCheckHandles, answerFor, startFakeUpstream,
} from './fake-upstream.ts';

const v4 = (host: string, port = 53): UpstreamAddress => ({ host, port, family: 'ipv4' });
const v6 = (host: string, port = 53): UpstreamAddress => ({ host, port, family: 'ipv6' });

// What the config alone says about self-loops (selfListener), and what is left to the loop probe.
// Only an exact listen address (same address in any spelling, same port) is "us" from the config;
// a wildcard listener does not claim other addresses: Docker's 127.0.0.11:53 is DNATed to its own
// resolver, podman's gateway resolver is another host, and 127.0.0.1:53 next to 0.0.0.0:53 reaches
// us only where no NAT says otherwise, which the probe measures (real sockets below).
describe('self-detection matrix', () => {
  const wildcard4: ListenAddress[] = [v4('0.0.0.0', 53)];
  const wildcard6: ListenAddress[] = [v6('::', 53)];
  const loopback: ListenAddress[] = [v4('127.0.0.1', 1053), v6('::1', 1053)];
  const matrix: Array<{ case: string; listeners: ListenAddress[]; upstream: UpstreamAddress; self: ListenAddress | null }> = [
    { case: 'wildcard listener + Docker 127.0.0.11', listeners: wildcard4, upstream: v4('127.0.0.11'), self: null },
    { case: 'wildcard listener + 127.0.0.1 on the same port (the probe decides)', listeners: wildcard4, upstream: v4('127.0.0.1'), self: null },
    { case: 'wildcard listener + podman gateway resolver', listeners: wildcard4, upstream: v4('10.89.0.1'), self: null },
    { case: ':: listener + ::1 on the same port (the probe decides)', listeners: wildcard6, upstream: v6('::1'), self: null },
    { case: 'wildcard listener + the wildcard itself', listeners: wildcard4, upstream: v4('0.0.0.0'), self: v4('0.0.0.0', 53) },
    { case: ':: listener + :: spelled out', listeners: wildcard6, upstream: v6('0:0:0:0:0:0:0:0'), self: v6('::', 53) },
    { case: 'exact match', listeners: loopback, upstream: v4('127.0.0.1', 1053), self: v4('127.0.0.1', 1053) },
    { case: 'exact match, IPv6 spelled long', listeners: loopback, upstream: v6('0:0:0:0:0:0:0:1', 1053), self: v6('::1', 1053) },
    { case: 'exact match, IPv4-mapped', listeners: loopback, upstream: v6('::ffff:127.0.0.1', 1053), self: v4('127.0.0.1', 1053) },
    { case: 'same address, different port', listeners: loopback, upstream: v4('127.0.0.1', 53), self: null },
    { case: 'another loopback address, same port', listeners: loopback, upstream: v4('127.0.0.53', 1053), self: null },
    { case: 'another host', listeners: loopback, upstream: v4('10.0.0.2', 1053), self: null },
  ];
  it.each(matrix)('$case', ({ listeners, upstream, self }) => {
    expect(selfListener(upstream, listeners)).toEqual(self);
  });
});

describe('createLoopDetector', () => {
  let detectors: LoopDetector[] = [];
  afterEach(() => {
    for (const detector of detectors) detector.close();
    detectors = [];
  });

  function detector(upstreams: UpstreamAddress[], extra: Partial<Parameters<typeof createLoopDetector>[0]> = {}) {
    const sent: Array<{ upstream: UpstreamAddress; query: UpstreamQuery }> = [];
    const loops: Array<{ upstream: UpstreamAddress; name: string }> = [];
    const created = createLoopDetector({
      upstreams,
      onLoop: (upstream, name) => loops.push({ upstream, name }),
      send: async (upstream, query) => {
        sent.push({ upstream, query });
      },
      ...extra,
    });
    detectors.push(created);
    return { created, sent, loops };
  }

  it('sends one HINFO probe per upstream under loop-probe.mesh-dns.test, with random labels', async () => {
    const { created, sent } = detector([v4('10.0.0.1'), v4('10.0.0.2')]);
    await created.start();
    expect(sent.map((s) => s.upstream.host)).toEqual(['10.0.0.1', '10.0.0.2']);
    for (const { query } of sent) {
      expect(query.qname).toMatch(/^[0-9a-f]{16}\.[0-9a-f]{16}\.loop-probe\.mesh-dns\.test$/);
      expect(query).toMatchObject({ qtype: 13, qclass: 1, recursionDesired: true });
      const parsed = parseRequest(buildUpstreamQuery(1, query));
      expect(parsed.ok && parsed.request.qname).toBe(query.qname);
    }
    const [first, second] = sent.map((s) => s.query.qname.split('.'));
    expect(first![0]).toBe(second![0]); // the detector's label
    expect(first![1]).not.toBe(second![1]); // each probe's label
  });

  it('observe: our probe coming back names the upstream it went to, once; anything else is false', async () => {
    const { created, sent, loops } = detector([v4('10.0.0.1'), v4('10.0.0.2')]);
    await created.start();
    const probeToSecond = sent[1]!.query.qname;
    expect(created.observe('www.example.com')).toBe(false);
    expect(created.observe(`0123456789abcdef.0123456789abcdef.${LOOP_PROBE_SUFFIX}`)).toBe(false); // another instance's probe
    expect(loops).toEqual([]);
    expect(created.observe(probeToSecond)).toBe(true);
    expect(created.observe(probeToSecond)).toBe(true);
    expect(loops).toEqual([{ upstream: v4('10.0.0.2'), name: probeToSecond }]);
    expect(created.looping()).toEqual([v4('10.0.0.2')]);
  });

  it('keeps recognising the previous round after a new one, and forgets older ones', async () => {
    const { created, sent, loops } = detector([v4('10.0.0.1')]);
    await created.probe();
    await created.probe();
    await created.probe();
    const [oldest, previous, current] = sent.map((s) => s.query.qname);
    expect(created.observe(oldest!)).toBe(false);
    expect(created.observe(previous!)).toBe(true);
    expect(created.observe(current!)).toBe(true);
    expect(loops).toHaveLength(1);
  });

  it('re-probes every intervalMs when asked to, until closed', async () => {
    const { created, sent } = detector([v4('10.0.0.1')], { intervalMs: 20 });
    await created.start();
    await new Promise((resolve) => setTimeout(resolve, 110));
    created.close();
    const count = sent.length;
    expect(count).toBeGreaterThanOrEqual(3);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(sent.length).toBe(count);
  });

  it('builds the probe question from the name', () => {
    const query = loopProbeQuery(`aaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbb.${LOOP_PROBE_SUFFIX}`);
    expect(query.question.length).toBe(1 + 16 + 1 + 16 + 1 + 10 + 1 + 8 + 1 + 4 + 1 + 4);
    expect(query.question.readUInt16BE(query.question.length - 4)).toBe(13);
  });
});

describe('loop detection over real sockets', () => {
  const fakes = closeFakesAndCheckHandles();

  it('finds the upstream that forwards back to us and clears the one that does not', async () => {
    let detector: LoopDetector | null = null;
    // "Us": a listener that runs observe() on every query, as the query path will, and answers
    // our own probes with SERVFAIL instead of forwarding them.
    const us = dgram.createSocket('udp4');
    const observed: string[] = [];
    us.on('message', (message, rinfo) => {
      const parsed = parseRequest(message);
      if (!parsed.ok) return;
      observed.push(parsed.request.qname);
      const ours = detector!.observe(parsed.request.qname);
      const reply = Buffer.from(message);
      reply.writeUInt16BE(0x8180 | (ours ? 2 : 3), 2);
      us.send(reply, rinfo.port, rinfo.address);
    });
    await new Promise<void>((resolve) => us.bind(0, '127.0.0.1', resolve));
    const usPort = (us.address() as AddressInfo).port;

    // A forwarder whose upstream is us: it relays every query to our listener.
    const looping = await startFakeUpstream({
      udp: (query, reply) => {
        const relay = dgram.createSocket('udp4');
        relay.on('message', (answer) => {
          reply(answer);
          relay.close();
        });
        relay.send(query.message, usPort, '127.0.0.1');
      },
    });
    const honest = await startFakeUpstream({ udp: (query, reply) => reply(answerFor(query, { rcode: 3 })) });
    fakes.push(looping, honest);

    const loops: UpstreamAddress[] = [];
    detector = createLoopDetector({ upstreams: [looping.address, honest.address], onLoop: (upstream) => loops.push(upstream), timeoutMs: 500 });
    try {
      await detector.start();
      expect(loops).toEqual([looping.address]);
      expect(observed).toHaveLength(1);
      expect(observed[0]).toMatch(/\.loop-probe\.mesh-dns\.test$/);
      expect(honest.queries).toHaveLength(1);
      expect(honest.queries[0]!.qtype).toBe(13);
    } finally {
      detector.close();
      await new Promise<void>((resolve) => us.close(() => resolve()));
    }
  });
});

describe('the loop probe decides what the config cannot', () => {
  it('0.0.0.0:<port> listener, upstream 127.0.0.1:<port>: the probe arrives at the listener, a loop', async () => {
    // Not a self-loop by config (selfListener is null), but here, with no NAT in between, a
    // packet to 127.0.0.1 reaches the wildcard socket: measured, not assumed.
    let detector: LoopDetector | null = null;
    const us = dgram.createSocket('udp4');
    us.on('message', (message, rinfo) => {
      const parsed = parseRequest(message);
      if (!parsed.ok) return;
      detector!.observe(parsed.request.qname);
      const reply = Buffer.from(message);
      reply.writeUInt16BE(0x8182, 2); // SERVFAIL, as the query path answers our own probe
      us.send(reply, rinfo.port, rinfo.address);
    });
    await new Promise<void>((resolve) => us.bind({ port: 0, address: '0.0.0.0', exclusive: true }, resolve));
    const port = (us.address() as AddressInfo).port;
    const upstream = v4('127.0.0.1', port);
    expect(selfListener(upstream, [v4('0.0.0.0', port)])).toBeNull();
    const loops: UpstreamAddress[] = [];
    detector = createLoopDetector({ upstreams: [upstream], onLoop: (looping) => loops.push(looping), timeoutMs: 500 });
    try {
      await detector.start();
      expect(loops).toEqual([upstream]);
    } finally {
      detector.close();
      await new Promise<void>((resolve) => us.close(() => resolve()));
    }
  });
});
