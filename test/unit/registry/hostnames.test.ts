import { describe, expect, it } from 'vitest';
import { publishable, resolveHostnameAgents } from '../../../src/registry/hostnames.ts';
import type { AgentProjection, HostnameLookup, LookupAddress } from '../../../src/registry/types.ts';

function agent(id: string, host: string, hostKind: AgentProjection['hostKind'] = 'hostname', addresses: string[] = []): AgentProjection {
  return {
    id,
    name: id.replace(/-[0-9a-f]{8}$/, ''),
    status: 'healthy',
    scheme: 'http',
    host,
    hostKind,
    port: 8080,
    capabilities: [],
    version: '',
    runtime: 'python',
    agentType: 'mcp_agent',
    addresses: hostKind === 'hostname' ? addresses : [host],
  };
}

/** A fake system resolver: a table of answers (an Error entry rejects), recording every call. */
function fakeLookup(table: Record<string, LookupAddress[] | Error | 'hang'>): HostnameLookup & { calls: string[]; maxConcurrent: number } {
  let active = 0;
  const lookup = Object.assign(
    async (hostname: string): Promise<LookupAddress[]> => {
      lookup.calls.push(hostname);
      active += 1;
      lookup.maxConcurrent = Math.max(lookup.maxConcurrent, active);
      try {
        await new Promise((resolve) => setTimeout(resolve, 5));
        const answer = table[hostname];
        if (answer === 'hang') return await new Promise<never>(() => {});
        if (answer === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
        if (answer instanceof Error) throw answer;
        return answer;
      } finally {
        active -= 1;
      }
    },
    { calls: [] as string[], maxConcurrent: 0 },
  );
  return lookup;
}

const v4 = (address: string): LookupAddress => ({ address, family: 4 });
const v6 = (address: string): LookupAddress => ({ address, family: 6 });
const options = (lookup: HostnameLookup) => ({ lookup, timeoutMs: 200, concurrency: 16 });

describe('resolveHostnameAgents', () => {
  it('looks each hostname up once, however many replicas advertise it', async () => {
    const lookup = fakeLookup({ 'weather-mcp-mesh-agent.prod': [v4('10.96.0.15')] });
    const replicas = ['weather-00000001', 'weather-00000002', 'weather-00000003'].map((id) => agent(id, 'weather-mcp-mesh-agent.prod'));
    const result = await resolveHostnameAgents(replicas, [], options(lookup));
    expect(lookup.calls).toEqual(['weather-mcp-mesh-agent.prod']);
    expect(result.agents.map((a) => a.addresses)).toEqual([['10.96.0.15'], ['10.96.0.15'], ['10.96.0.15']]);
    expect(result.skipped).toEqual([]);
    expect(result.failedHostnames).toEqual([]);
  });

  it('leaves IP-literal agents alone and keeps input order', async () => {
    const lookup = fakeLookup({ 'chat.internal': [v4('10.1.0.7')] });
    const input = [agent('a-00000001', '10.0.0.1', 'ipv4'), agent('b-00000002', 'chat.internal'), agent('c-00000003', 'fd00::1', 'ipv6')];
    const result = await resolveHostnameAgents(input, [], options(lookup));
    expect(lookup.calls).toEqual(['chat.internal']);
    expect(result.agents).toEqual([input[0], { ...input[1], addresses: ['10.1.0.7'] }, input[2]]);
  });

  it('without a hostname endpoint, hands back the list itself and looks nothing up', async () => {
    const lookup = fakeLookup({});
    const input = [agent('a-00000001', '10.0.0.1', 'ipv4'), agent('c-00000003', 'fd00::1', 'ipv6')];
    const result = await resolveHostnameAgents(input, input, options(lookup));
    expect(result.agents).toBe(input);
    expect(result).toEqual({ agents: input, skipped: [], failedHostnames: [] });
    expect(lookup.calls).toEqual([]);
  });

  it('normalises, deduplicates and sorts answers and drops loopback and unspecified ones', async () => {
    const lookup = fakeLookup({
      'multi.internal': [v6('FD00:0:0::2'), v4('10.0.0.9'), v4('127.0.1.1'), v6('::1'), v4('10.0.0.9'), v4('0.0.0.0'), v4('10.0.0.10')],
    });
    const result = await resolveHostnameAgents([agent('m-00000001', 'multi.internal')], [], options(lookup));
    expect(result.agents[0]?.addresses).toEqual(['10.0.0.10', '10.0.0.9', 'fd00::2']);
  });

  it('skips an agent whose hostname resolves only to loopback (e.g. /etc/hosts 127.0.1.1)', async () => {
    const lookup = fakeLookup({ 'myhost': [v4('127.0.1.1'), v6('::1')] });
    const result = await resolveHostnameAgents([agent('h-00000001', 'myhost')], [], options(lookup));
    expect(result.agents).toEqual([]);
    expect(result.skipped).toEqual([{ id: 'h-00000001', reason: 'loopback', endpoint: 'http://myhost:8080' }]);
    // It resolved: not a lookup failure.
    expect(result.failedHostnames).toEqual([]);
  });

  it('skips agents as unresolvable when the lookup fails and nothing was known before', async () => {
    const lookup = fakeLookup({});
    const result = await resolveHostnameAgents([agent('x-00000001', 'nowhere.invalid'), agent('x-00000002', 'nowhere.invalid')], [], options(lookup));
    expect(result.agents).toEqual([]);
    expect(result.skipped).toEqual([
      { id: 'x-00000001', reason: 'unresolvable_hostname', endpoint: 'http://nowhere.invalid:8080' },
      { id: 'x-00000002', reason: 'unresolvable_hostname', endpoint: 'http://nowhere.invalid:8080' },
    ]);
    expect(result.failedHostnames).toEqual(['nowhere.invalid']);
  });

  it('keeps the previous addresses of a hostname when its lookup fails, also for a new replica', async () => {
    const previous = [agent('w-00000001', 'weather.prod', 'hostname', ['10.96.0.15'])];
    const lookup = fakeLookup({ 'weather.prod': new Error('EAI_AGAIN') });
    const result = await resolveHostnameAgents([agent('w-00000001', 'weather.prod'), agent('w-00000002', 'weather.prod')], previous, options(lookup));
    expect(result.agents.map((a) => [a.id, a.addresses])).toEqual([
      ['w-00000001', ['10.96.0.15']],
      ['w-00000002', ['10.96.0.15']],
    ]);
    expect(result.skipped).toEqual([]);
    expect(result.failedHostnames).toEqual(['weather.prod']);
  });

  it('treats an empty answer like a failure and keeps the previous addresses', async () => {
    const previous = [agent('w-00000001', 'weather.prod', 'hostname', ['10.96.0.15'])];
    const result = await resolveHostnameAgents([agent('w-00000001', 'weather.prod')], previous, options(fakeLookup({ 'weather.prod': [] })));
    expect(result.agents[0]?.addresses).toEqual(['10.96.0.15']);
    expect(result.failedHostnames).toEqual(['weather.prod']);
  });

  it('does not fall back on previous addresses when the answer is loopback only (it resolved)', async () => {
    const previous = [agent('w-00000001', 'weather.prod', 'hostname', ['10.96.0.15'])];
    const result = await resolveHostnameAgents([agent('w-00000001', 'weather.prod')], previous, options(fakeLookup({ 'weather.prod': [v4('127.0.0.1')] })));
    expect(result.agents).toEqual([]);
    expect(result.skipped.map((s) => s.reason)).toEqual(['loopback']);
  });

  it('uses fresh answers over previous ones when the lookup works', async () => {
    const previous = [agent('w-00000001', 'weather.prod', 'hostname', ['10.96.0.15'])];
    const lookup = fakeLookup({ 'weather.prod': [v4('10.96.0.16')] });
    const result = await resolveHostnameAgents([agent('w-00000001', 'weather.prod')], previous, options(lookup));
    expect(result.agents[0]?.addresses).toEqual(['10.96.0.16']);
  });

  it('times a hanging lookup out instead of holding the poll', async () => {
    const previous = [agent('s-00000001', 'slow.internal', 'hostname', ['10.2.0.1'])];
    const lookup = fakeLookup({ 'slow.internal': 'hang', 'quick.internal': [v4('10.2.0.2')] });
    const startedAt = Date.now();
    const result = await resolveHostnameAgents(
      [agent('s-00000001', 'slow.internal'), agent('q-00000001', 'quick.internal')],
      previous,
      { lookup, timeoutMs: 100, concurrency: 16 },
    );
    expect(Date.now() - startedAt).toBeLessThan(1000);
    expect(result.agents.map((a) => a.addresses)).toEqual([['10.2.0.1'], ['10.2.0.2']]);
    expect(result.failedHostnames).toEqual(['slow.internal']);
  });

  it('runs at most `concurrency` lookups at once', async () => {
    const hosts = Array.from({ length: 20 }, (_, i) => `h${i}.internal`);
    const lookup = fakeLookup(Object.fromEntries(hosts.map((h, i) => [h, [v4(`10.3.0.${i + 1}`)]])));
    const result = await resolveHostnameAgents(hosts.map((h, i) => agent(`h-${i}`, h)), [], { lookup, timeoutMs: 1000, concurrency: 4 });
    expect(lookup.calls).toHaveLength(20);
    expect(lookup.maxConcurrent).toBe(4);
    expect(result.agents).toHaveLength(20);
  });
});

describe('publishable', () => {
  it('reports an empty answer as unresolvable and an unspecified-only answer as such', () => {
    expect(publishable([])).toEqual({ ok: false, reason: 'unresolvable_hostname', failed: true });
    expect(publishable([v4('0.0.0.0')])).toEqual({ ok: false, reason: 'unspecified_address', failed: false });
  });

  it('keeps IPv4-mapped answers as IPv6 unless they map loopback', () => {
    expect(publishable([v6('::ffff:10.0.0.1'), v6('::ffff:127.0.0.1')])).toEqual({ ok: true, addresses: ['::ffff:a00:1'], failed: false });
  });
});
