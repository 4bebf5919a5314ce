// The endpoint prober with an injected connect: when it probes (appear/change only), what it
// reports, and the bounds (concurrency, /ready list). The real-socket behaviour is in
// test/integration/endpoint-probe.test.ts.
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { EndpointProber, MAX_REPORTED_UNREACHABLE, probeFailureReason, type EndpointConnect } from '../../../src/registry/endpoint-probe.ts';
import { createRegistryMetrics, endpointProbeMetrics } from '../../../src/registry/metrics.ts';
import type { AgentProjection } from '../../../src/registry/types.ts';
import { captureLogger, metricValue } from '../../support/registry.ts';

function agent(id: string, host: string, port = 8080, extra: Partial<AgentProjection> = {}): AgentProjection {
  return {
    id, name: id.replace(/-[0-9a-f]+$/, ''), status: 'healthy', scheme: 'http', host, hostKind: host.includes(':') ? 'ipv6' : 'ipv4', port,
    capabilities: [], version: '', runtime: 'python', agentType: 'mcp_agent', addresses: [host], ...extra,
  };
}

function refusedError(): Error {
  return Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
}

function setUp(connect: EndpointConnect, concurrency = 16) {
  const log = captureLogger();
  const register = new Registry();
  const metrics = createRegistryMetrics(register);
  const prober = new EndpointProber({ timeoutMs: 100, concurrency, logger: log.logger, metrics: endpointProbeMetrics(metrics), connect });
  return { prober, log, register };
}

describe('EndpointProber', () => {
  it('probes an agent when it appears and when its endpoint changes, not on an unchanged projection', async () => {
    const calls: string[] = [];
    const refused = new Set(['10.0.0.1:8080']);
    const { prober, log, register } = setUp(async (host, port) => {
      calls.push(`${host}:${port}`);
      if (refused.has(`${host}:${port}`)) throw refusedError();
    });
    prober.observe([agent('a-1', '10.0.0.1'), agent('b-1', '10.0.0.2')]);
    await prober.settled();
    expect(calls.sort()).toEqual(['10.0.0.1:8080', '10.0.0.2:8080']);
    expect(prober.state()).toMatchObject({ unreachable: 1, first: [{ id: 'a-1', target: '10.0.0.1:8080', reason: 'refused', code: 'ECONNREFUSED' }] });
    expect(await metricValue(register, 'meshdns_registry_unreachable_endpoints')).toBe(1);
    expect(await metricValue(register, 'meshdns_registry_endpoint_probe_failures_total', { reason: 'refused' })).toBe(1);

    // The same projection ten times (every poll): no probe, no log line.
    for (let i = 0; i < 10; i++) prober.observe([agent('a-1', '10.0.0.1'), agent('b-1', '10.0.0.2')]);
    await prober.settled();
    expect(calls).toHaveLength(2);
    expect(log.warnings()).toHaveLength(1);
    expect(log.warnings()[0]).toMatchObject({ agent: 'a-1', reason: 'refused', code: 'ECONNREFUSED' });

    // a-1 moves to a port that accepts: probed once more, reported as recovered.
    prober.observe([agent('a-1', '10.0.0.1', 9090), agent('b-1', '10.0.0.2')]);
    await prober.settled();
    expect(calls).toEqual(expect.arrayContaining(['10.0.0.1:9090']));
    expect(calls).toHaveLength(3);
    expect(prober.state().unreachable).toBe(0);
    expect(await metricValue(register, 'meshdns_registry_unreachable_endpoints')).toBe(0);
    expect(log.lines.some((line) => line.msg === 'agent endpoint accepts connections again')).toBe(true);
  });

  it('forgets an agent that leaves the projection (the gauge drops at once)', async () => {
    const { prober, register } = setUp(async () => {
      throw refusedError();
    });
    prober.observe([agent('a-1', '10.0.0.1'), agent('b-1', '10.0.0.2')]);
    await prober.settled();
    expect(await metricValue(register, 'meshdns_registry_unreachable_endpoints')).toBe(2);
    prober.observe([agent('b-1', '10.0.0.2')]);
    await prober.settled();
    expect(await metricValue(register, 'meshdns_registry_unreachable_endpoints')).toBe(1);
    expect(prober.state().first.map((entry) => entry.id)).toEqual(['b-1']);
  });

  it('never runs more connects at once than its concurrency, and lists at most 20 ids in /ready', async () => {
    let running = 0;
    let peak = 0;
    const { prober } = setUp(async () => {
      running += 1;
      peak = Math.max(peak, running);
      await new Promise((resolve) => setTimeout(resolve, 2));
      running -= 1;
      throw Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' });
    }, 4);
    const agents = Array.from({ length: 50 }, (_, i) => agent(`agent-${String(i).padStart(2, '0')}`, `10.1.0.${i + 1}`));
    prober.observe(agents);
    await prober.settled();
    expect(peak).toBe(4);
    const state = prober.state();
    expect(state.unreachable).toBe(50);
    expect(state.probed).toBe(50);
    expect(state.first).toHaveLength(MAX_REPORTED_UNREACHABLE);
    expect(state.first[0]).toMatchObject({ id: 'agent-00', reason: 'timeout' });
  });

  it('probes the resolved addresses of a hostname agent and brackets IPv6 targets', async () => {
    const calls: string[] = [];
    const { prober } = setUp(async (host, port) => {
      calls.push(`${host}|${port}`);
      if (host === 'fd00::7') throw Object.assign(new Error('unreachable'), { code: 'EHOSTUNREACH' });
    });
    prober.observe([agent('chat-1', 'chat.internal.example', 7000, { hostKind: 'hostname', addresses: ['10.20.0.7', 'fd00::7'] })]);
    await prober.settled();
    expect(calls).toEqual(['10.20.0.7|7000', 'fd00::7|7000']);
    expect(prober.state().first).toEqual([{ id: 'chat-1', target: '[fd00::7]:7000', reason: 'unreachable', code: 'EHOSTUNREACH' }]);
  });

  it('maps system codes to a bounded reason set', () => {
    expect(probeFailureReason('ECONNREFUSED')).toBe('refused');
    expect(probeFailureReason('ETIMEDOUT')).toBe('timeout');
    expect(probeFailureReason('ENETUNREACH')).toBe('unreachable');
    expect(probeFailureReason('ECONNRESET')).toBe('reset');
    expect(probeFailureReason('EWHATEVER')).toBe('other');
  });
});
