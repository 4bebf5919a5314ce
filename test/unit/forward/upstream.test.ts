import { afterEach, describe, expect, it } from 'vitest';
import { HEALTH_PROBE_QUERY, Upstream, type UpstreamHealthOptions } from '../../../src/forward/upstream.ts';
import { parseRequest } from '../../../src/wire/request.ts';
import { buildUpstreamQuery } from '../../../src/forward/message.ts';
import { waitFor } from './fake-upstream.ts';

const address = { host: '192.0.2.53', port: 53, family: 'ipv4' as const };
let upstreams: Upstream[] = [];
afterEach(() => {
  for (const upstream of upstreams) upstream.close();
  upstreams = [];
});

function make(options: Partial<UpstreamHealthOptions> = {}): { upstream: Upstream; changes: Array<[boolean, string]>; probes: () => number; answer: (value: boolean) => void } {
  let answers = false;
  let probes = 0;
  const changes: Array<[boolean, string]> = [];
  const upstream = new Upstream(address, {
    maxFails: 2,
    healthCheckIntervalMs: 20,
    failurePenaltyMs: 2000,
    probe: async () => {
      probes++;
      return answers;
    },
    onStateChange: (_upstream, isUp, reason) => changes.push([isUp, reason]),
    ...options,
  });
  upstreams.push(upstream);
  return { upstream, changes, probes: () => probes, answer: (value) => (answers = value) };
}

describe('Upstream health', () => {
  it('is named host:port and starts up, unmeasured', () => {
    const { upstream } = make();
    expect(upstream.name).toBe('192.0.2.53:53');
    expect(upstream.state()).toEqual({ to: '192.0.2.53:53', up: true, looping: false, consecutiveFailures: 0, latencyMs: null, timesMarkedDown: 0, downForMs: null, lastFailure: null });
  });

  it('goes down after maxFails consecutive failures, not before', () => {
    const { upstream, changes } = make();
    expect(upstream.recordFailure('timeout')).toBe(false);
    expect(upstream.isUp()).toBe(true);
    expect(upstream.recordFailure('timeout')).toBe(true);
    expect(upstream.isUp()).toBe(false);
    expect(changes).toEqual([[false, 'timeout']]);
    expect(upstream.recordFailure('timeout')).toBe(false); // already down: no second transition
  });

  it('any response resets the count: failures must be consecutive', () => {
    const { upstream } = make();
    upstream.recordFailure('timeout');
    upstream.recordResponse(5);
    upstream.recordFailure('timeout');
    expect(upstream.isUp()).toBe(true);
    expect(upstream.state().consecutiveFailures).toBe(1);
  });

  it('reports each unanswered probe while down (a lasting outage), and counts and times every episode', async () => {
    let unanswered = 0;
    const { upstream, answer } = make({ onProbeFailed: () => unanswered++ });
    upstream.recordFailure('timeout');
    upstream.recordFailure('no answer within 2000 ms over udp');
    expect(await waitFor(() => unanswered >= 2, 1000)).toBe(true);
    const down = upstream.state();
    expect(down).toMatchObject({ up: false, timesMarkedDown: 1, lastFailure: 'no answer within 2000 ms over udp' });
    expect(down.downForMs).toBeGreaterThanOrEqual(20);
    answer(true);
    expect(await waitFor(() => upstream.isUp(), 1000)).toBe(true);
    expect(upstream.state()).toMatchObject({ up: true, timesMarkedDown: 1, downForMs: null });
    answer(false);
    upstream.recordFailure('network');
    upstream.recordFailure('network');
    expect(upstream.state().timesMarkedDown).toBe(2);
  });

  it('maxFails 0 never marks it down', () => {
    const { upstream } = make({ maxFails: 0 });
    for (let i = 0; i < 10; i++) upstream.recordFailure('network');
    expect(upstream.isUp()).toBe(true);
  });

  it('while down, probes every interval until the probe is answered, then is up again', async () => {
    const { upstream, changes, probes, answer } = make();
    upstream.recordFailure('timeout');
    upstream.recordFailure('timeout');
    expect(await waitFor(() => probes() >= 3, 1000)).toBe(true);
    expect(upstream.isUp()).toBe(false);
    answer(true);
    expect(await waitFor(() => upstream.isUp(), 1000)).toBe(true);
    expect(changes.map(([isUp]) => isUp)).toEqual([false, true]);
    expect(changes[1]![1]).toBe('answered the health probe');
    const probesWhenUp = probes();
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(probes()).toBe(probesWhenUp); // probing stopped
    expect(upstream.state().consecutiveFailures).toBe(0);
  });

  it('a query answered while down brings it up and stops probing', async () => {
    const { upstream, probes } = make({ healthCheckIntervalMs: 1000 });
    upstream.recordFailure('timeout');
    upstream.recordFailure('timeout');
    upstream.recordResponse(3);
    expect(upstream.isUp()).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(probes()).toBe(0);
  });

  it('close() stops probing', async () => {
    const { upstream, probes } = make();
    upstream.recordFailure('timeout');
    upstream.recordFailure('timeout');
    await waitFor(() => probes() >= 1, 1000);
    upstream.close();
    const count = probes();
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(probes()).toBe(count);
  });

  it('markLooping takes it out of rotation for good and stops probing', async () => {
    const { upstream, probes } = make();
    upstream.recordFailure('timeout');
    upstream.recordFailure('timeout');
    upstream.markLooping();
    const count = probes();
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(probes()).toBe(count);
    expect(upstream.isLooping()).toBe(true);
    expect(upstream.state().looping).toBe(true);
  });
});

describe('Upstream latency (EWMA for `fastest`)', () => {
  it('starts at the first sample and moves 30 % towards each new one', () => {
    const { upstream } = make();
    upstream.recordResponse(10);
    expect(upstream.view()).toEqual({ up: true, latencyMs: 10 });
    upstream.recordResponse(20);
    expect(upstream.view().latencyMs).toBeCloseTo(13, 10);
    expect(upstream.state().latencyMs).toBe(13);
  });

  it('a failure is a penalty sample, and the score recovers as answers come in', () => {
    const { upstream } = make({ maxFails: 0 });
    upstream.recordResponse(10);
    upstream.recordFailure('timeout');
    const penalised = upstream.view().latencyMs;
    expect(penalised).toBeCloseTo(10 + 0.3 * (2000 - 10), 10);
    for (let i = 0; i < 10; i++) upstream.recordResponse(10);
    const recovered = upstream.view().latencyMs;
    expect(recovered).toBeLessThan(penalised * 0.05);
    expect(recovered).toBeGreaterThan(10);
  });
});

describe('HEALTH_PROBE_QUERY', () => {
  it('is `. IN NS` with RD, as CoreDNS probes', () => {
    const parsed = parseRequest(buildUpstreamQuery(1, HEALTH_PROBE_QUERY));
    expect(parsed.ok && parsed.request).toMatchObject({ qname: '', qtype: 2, qclass: 1, flags: 0x0100 });
  });
});
