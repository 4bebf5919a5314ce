import { describe, expect, it } from 'vitest';
import { RegistryFormatError } from '../../../src/registry/errors.ts';
import { AgentsProjector, findById, newListingMemory, projectAgents, projectAgentsBody, sameAgents } from '../../../src/registry/projection.ts';
import { AgentsBodyReader, DEFAULT_AGENTS_BODY_LIMITS, readAgentsBody } from '../../../src/registry/agents-body.ts';
import { diffAgentsSliced } from '../../../src/registry/sync.ts';
import type { AgentProjection } from '../../../src/registry/types.ts';
import { agentInfo, agentsBody } from '../../support/registry.ts';
import { seededRandom } from '../../support/seeded-random.ts';

const weather: AgentProjection = {
  id: 'weather-a1b2c3d4',
  name: 'weather',
  status: 'healthy',
  scheme: 'http',
  host: '10.0.0.11',
  hostKind: 'ipv4',
  port: 8081,
  capabilities: [{ name: 'weather_forecast', version: '1.2.0', tags: ['prod', 'weather'] }],
  version: '1.2.0',
  runtime: 'python',
  agentType: 'mcp_agent',
  addresses: ['10.0.0.11'],
};

function formatCode(body: unknown): string {
  try {
    projectAgents(body);
  } catch (error) {
    expect(error).toBeInstanceOf(RegistryFormatError);
    return (error as RegistryFormatError).code;
  }
  throw new Error('projectAgents accepted the body');
}

describe('projectAgents', () => {
  it('projects a registry agent to exactly the DNS-relevant fields', () => {
    expect(projectAgents(agentsBody([agentInfo()]))).toEqual({ agents: [weather], skipped: [] });
  });

  it('shares equal capabilities and repeated values between agents, and never merges two that differ only in where a NUL sits', () => {
    const cap = (name: string, version: string, tags: string[] = []) => ({ ...(agentInfo()['capabilities'] as Record<string, unknown>[])[0], name, capability: name, version, tags });
    const result = projectAgents(agentsBody([
      agentInfo({ id: 'a-1', capabilities: [cap('weather', '1.0.0', ['x'])] }),
      agentInfo({ id: 'a-2', capabilities: [cap('weather', '1.0.0', ['x'])] }),
      agentInfo({ id: 'a-3', capabilities: [cap('a\u0000b', '')] }),
      agentInfo({ id: 'a-4', capabilities: [cap('a', 'b\u0000')] }),
    ]));
    const [one, two, three, four] = result.agents;
    expect(one!.capabilities[0]).toBe(two!.capabilities[0]);
    expect(one!.runtime).toBe(two!.runtime);
    expect(three!.capabilities).toEqual([{ name: 'a\u0000b', version: '', tags: [] }]);
    expect(four!.capabilities).toEqual([{ name: 'a', version: 'b\u0000', tags: [] }]);
  });

  it('shares whole capability lists between agents that list the same capabilities in any order, and no others', () => {
    const cap = (name: string, version = '1.0.0', tags: string[] = []) => ({ ...(agentInfo()['capabilities'] as Record<string, unknown>[])[0], name, capability: name, version, tags });
    const result = projectAgents(agentsBody([
      agentInfo({ id: 'a-1', capabilities: [cap('weather'), cap('search')] }),
      agentInfo({ id: 'a-2', capabilities: [cap('search'), cap('weather')] }),
      agentInfo({ id: 'a-3', capabilities: [cap('weather'), cap('search', '2.0.0')] }),
      agentInfo({ id: 'a-4', capabilities: [cap('weather'), cap('search', '1.0.0', ['beta'])] }),
      agentInfo({ id: 'a-5', capabilities: [cap('weather')] }),
    ]));
    const [one, two, three, four, five] = result.agents.map((agent) => agent.capabilities);
    expect(one).toBe(two);
    expect(one!.map((capability) => capability.name)).toEqual(['search', 'weather']);
    for (const other of [three, four, five]) expect(other).not.toBe(one);
    expect(three!.map((capability) => capability.version)).toEqual(['2.0.0', '1.0.0']);
    expect(four![0]!.tags).toEqual(['beta']);
    expect(five).toHaveLength(1);
  });

  it('treats `agents: null` (the registry\'s empty list) as no agents', () => {
    expect(projectAgents({ agents: null, count: 0, timestamp: '2026-11-22T01:50:30.577630898Z' })).toEqual({ agents: [], skipped: [] });
  });

  it('accepts an empty list too', () => {
    expect(projectAgents({ agents: [] })).toEqual({ agents: [], skipped: [] });
  });

  it('omits unhealthy agents without reporting them as skipped, even with junk endpoints', () => {
    const result = projectAgents(
      agentsBody([
        agentInfo({ id: 'gone-00000001', status: 'unhealthy' }),
        agentInfo({ id: 'junk-00000002', status: 'unhealthy', endpoint: 'http://not a host/../x:70000' }),
        agentInfo({ id: 'odd-00000003', status: 'unknown' }),
        agentInfo(),
      ]),
    );
    expect(result.agents.map((a) => a.id)).toEqual(['weather-a1b2c3d4']);
    expect(result.skipped).toEqual([]);
  });

  it('reports healthy agents with unusable endpoints as skipped, with reason and raw endpoint', () => {
    const result = projectAgents(
      agentsBody([
        agentInfo({ id: 'wild-aaaa0001', endpoint: 'http://0.0.0.0:8000' }),
        agentInfo({ id: 'stdio-aaaa0004', endpoint: 'stdio://stdio-aaaa0004' }),
        agentInfo({ id: 'local-aaaa0002', endpoint: 'http://localhost:8001' }),
        agentInfo({ id: 'junkhost-aaaa0006', endpoint: 'http://not a host/../x:70000' }),
      ]),
    );
    expect(result.agents).toEqual([]);
    expect(result.skipped).toEqual([
      { id: 'junkhost-aaaa0006', reason: 'unparsable_endpoint', endpoint: 'http://not a host/../x:70000' },
      { id: 'local-aaaa0002', reason: 'loopback', endpoint: 'http://localhost:8001' },
      { id: 'stdio-aaaa0004', reason: 'stdio', endpoint: 'stdio://stdio-aaaa0004' },
      { id: 'wild-aaaa0001', reason: 'unspecified_address', endpoint: 'http://0.0.0.0:8000' },
    ]);
  });

  it('sorts agents by id whatever order the registry used', () => {
    const ids = ['weather-e5f6a7b8', 'chat-11223344', 'geo-0c1d2e3f', 'Weather-0', 'weather-a1b2c3d4'];
    const result = projectAgents(agentsBody(ids.map((id) => agentInfo({ id }))));
    // Code-unit order: upper case sorts before lower case, independent of locale.
    expect(result.agents.map((a) => a.id)).toEqual(['Weather-0', 'chat-11223344', 'geo-0c1d2e3f', 'weather-a1b2c3d4', 'weather-e5f6a7b8']);
  });

  it('fills addresses with the literal for IP hosts and leaves hostnames for resolution', () => {
    const result = projectAgents(
      agentsBody([
        agentInfo({ id: 'geo-0c1d2e3f', endpoint: 'http://fd00::12:9090' }),
        agentInfo({ id: 'chat-11223344', endpoint: 'https://Chat.Internal.Example:7000' }),
      ]),
    );
    expect(result.agents.map((a) => [a.id, a.scheme, a.hostKind, a.host, a.port, a.addresses])).toEqual([
      ['chat-11223344', 'https', 'hostname', 'chat.internal.example', 7000, []],
      ['geo-0c1d2e3f', 'http', 'ipv6', 'fd00::12', 9090, ['fd00::12']],
    ]);
  });

  it('maps `capabilities: null` to [] and sorts capabilities by name and tags alphabetically', () => {
    const result = projectAgents(
      agentsBody([
        agentInfo({ id: 'api-aaaa0007', agent_type: 'api', capabilities: null }),
        agentInfo({
          id: 'geo-0c1d2e3f',
          capabilities: [
            { name: 'geo.reverse', version: '2.0.1', tags: ['maps'], function_name: 'reverse', available: true },
            { name: 'geo.geocode', version: '2.0.1', tags: ['v2', 'maps'], function_name: 'geocode', available: true },
            { name: 'geo.geocode', version: '1.0.0', tags: [], function_name: 'geocode_v1', available: true },
          ],
        }),
      ]),
    );
    expect(result.agents[0]).toMatchObject({ id: 'api-aaaa0007', agentType: 'api', capabilities: [] });
    expect(result.agents[1]?.capabilities).toEqual([
      { name: 'geo.geocode', version: '1.0.0', tags: [] },
      { name: 'geo.geocode', version: '2.0.1', tags: ['maps', 'v2'] },
      { name: 'geo.reverse', version: '2.0.1', tags: ['maps'] },
    ]);
  });

  it('defaults missing or null optional fields and capability version/tags', () => {
    const raw = agentInfo({ version: null, capabilities: [{ name: 'bare' }] });
    delete raw['runtime'];
    delete raw['agent_type'];
    expect(projectAgents({ agents: [raw] }).agents[0]).toMatchObject({
      version: '',
      runtime: '',
      agentType: '',
      capabilities: [{ name: 'bare', version: '', tags: [] }],
    });
  });

  it.each([
    ['a string body', '{"agents":[]}', 'NOT_AN_OBJECT'],
    ['null', null, 'NOT_AN_OBJECT'],
    ['a list', [agentInfo()], 'NOT_AN_OBJECT'],
    ['no agents key', { count: 0 }, 'AGENTS_NOT_A_LIST'],
    ['agents as an object', { agents: { id: 'x' } }, 'AGENTS_NOT_A_LIST'],
    ['agents as a string', { agents: 'none' }, 'AGENTS_NOT_A_LIST'],
    ['an entry that is a string', { agents: ['weather-a1b2c3d4'] }, 'BAD_AGENT'],
    ['an entry that is null', { agents: [agentInfo(), null] }, 'BAD_AGENT'],
    ['a numeric id', { agents: [agentInfo({ id: 42 })] }, 'BAD_AGENT'],
    ['no name', { agents: [agentInfo({ name: undefined })] }, 'BAD_AGENT'],
    ['a null endpoint', { agents: [agentInfo({ endpoint: null })] }, 'BAD_AGENT'],
    ['a boolean status', { agents: [agentInfo({ status: true })] }, 'BAD_AGENT'],
    ['a numeric version', { agents: [agentInfo({ version: 1.2 })] }, 'BAD_AGENT'],
    ['capabilities as an object', { agents: [agentInfo({ capabilities: {} })] }, 'BAD_CAPABILITY'],
    ['a capability without name', { agents: [agentInfo({ capabilities: [{ version: '1' }] })] }, 'BAD_CAPABILITY'],
    ['tags as a string', { agents: [agentInfo({ capabilities: [{ name: 'c', tags: 'a,b' }] })] }, 'BAD_CAPABILITY'],
    ['a numeric tag', { agents: [agentInfo({ capabilities: [{ name: 'c', tags: ['a', 1] }] })] }, 'BAD_CAPABILITY'],
    ['two agents with one id', { agents: [agentInfo(), agentInfo({ endpoint: 'http://10.0.0.12:8081' })] }, 'DUPLICATE_AGENT_ID'],
  ])('rejects %s with RegistryFormatError', (_label, body, code) => {
    expect(formatCode(body)).toBe(code);
  });

  it('fails the whole poll on one bad entry, even an unhealthy one, rather than dropping it', () => {
    const body = { agents: [agentInfo(), agentInfo({ id: 'gone-00000001', status: 'unhealthy', name: 7 })] };
    expect(formatCode(body)).toBe('BAD_AGENT');
  });
});

describe('sameAgents', () => {
  const project = (overrides: Record<string, unknown>[]): AgentProjection[] =>
    projectAgents(agentsBody(overrides.map((o) => agentInfo(o)))).agents;

  it('ignores last_seen, created_at, timestamps, counts and descriptions (heartbeat churn)', () => {
    const before = project([{}, { id: 'weather-e5f6a7b8', endpoint: 'http://10.0.0.12:8081' }]);
    const after = project([
      { id: 'weather-e5f6a7b8', endpoint: 'http://10.0.0.12:8081', last_seen: '2026-11-22T01:55:00.1Z' },
      { last_seen: '2026-11-22T01:55:01.9Z', created_at: '2026-11-22T01:51:00Z', description: 'new text', dependencies_resolved: 3 },
    ]);
    expect(sameAgents(before, after)).toBe(true);
  });

  it('ignores capability and tag order from the registry', () => {
    const caps = [
      { name: 'b', version: '1', tags: ['x', 'y'] },
      { name: 'a', version: '1', tags: [] },
    ];
    const reordered = [
      { name: 'a', version: '1', tags: [] },
      { name: 'b', version: '1', tags: ['y', 'x'] },
    ];
    expect(sameAgents(project([{ capabilities: caps }]), project([{ capabilities: reordered }]))).toBe(true);
  });

  it.each([
    ['endpoint host', { endpoint: 'http://10.0.0.21:8081' }],
    ['endpoint port', { endpoint: 'http://10.0.0.11:9081' }],
    ['scheme', { endpoint: 'https://10.0.0.11:8081' }],
    ['name', { name: 'weather2' }],
    ['version', { version: '1.3.0' }],
    ['runtime', { runtime: 'java' }],
    ['agent type', { agent_type: 'a2a' }],
    ['capability tags', { capabilities: [{ name: 'weather_forecast', version: '1.2.0', tags: ['weather'] }] }],
    ['capability version', { capabilities: [{ name: 'weather_forecast', version: '1.2.1', tags: ['weather', 'prod'] }] }],
    ['capabilities wiped by a bare POST', { capabilities: null }],
  ])('sees a change of %s', (_label, override) => {
    expect(sameAgents(project([{}]), project([override]))).toBe(false);
  });

  it('sees agents appearing, disappearing and hostname addresses changing', () => {
    const one = project([{}]);
    const two = project([{}, { id: 'weather-e5f6a7b8' }]);
    expect(sameAgents(one, two)).toBe(false);
    expect(sameAgents(two, one)).toBe(false);
    const named = project([{ endpoint: 'http://chat.internal.example:7000' }]);
    const resolvedA = named.map((a) => ({ ...a, addresses: ['10.1.0.1'] }));
    const resolvedB = named.map((a) => ({ ...a, addresses: ['10.1.0.2'] }));
    expect(sameAgents(resolvedA, resolvedA.map((a) => ({ ...a, addresses: [...a.addresses] })))).toBe(true);
    expect(sameAgents(resolvedA, resolvedB)).toBe(false);
  });
});

describe('projection agent by agent as the body is read (the sync: AgentsBodyReader onAgent → AgentsProjector)', () => {
  const bytes = () => Buffer.from(JSON.stringify(agentsBody(Array.from({ length: 2345 }, (_, index) => agentInfo({
    id: `agent-${String(2345 - index).padStart(5, '0')}`,
    endpoint: index % 97 === 0 ? 'http://0.0.0.0:80' : `http://10.0.${index >> 8}.${index & 0xff}:8000`,
    status: index % 101 === 0 ? 'unhealthy' : 'healthy',
  })))));
  const body = () => readAgentsBody(bytes());
  const streamed = (input: Buffer, namespace?: string) => {
    const projector = new AgentsProjector(namespace);
    const reader = new AgentsBodyReader(DEFAULT_AGENTS_BODY_LIMITS, (agent) => projector.add(agent));
    for (let offset = 0; offset < input.length; offset += 4096) reader.write(input.subarray(offset, offset + 4096));
    reader.end();
    return projector.finish();
  };

  /** One poll's body projected against the served list, as the sync does. */
  const feed = (input: Buffer, served: readonly AgentProjection[]) => {
    const projector = new AgentsProjector(undefined, served);
    const reader = new AgentsBodyReader(DEFAULT_AGENTS_BODY_LIMITS, (raw) => projector.add(raw));
    reader.write(input);
    reader.end();
    return projector.finish().agents;
  };

  it('gives what one projectAgentsBody of the whole body gives', () => {
    expect(streamed(bytes(), 'app')).toEqual(projectAgentsBody(body(), 'app'));
  });

  it('still fails the whole body on a duplicate id far into it', () => {
    const json = JSON.parse(bytes().toString('utf8')) as { agents: unknown[] };
    json.agents.push(json.agents[3]);
    expect(() => streamed(Buffer.from(JSON.stringify(json)))).toThrow(RegistryFormatError);
  });

  it('findById: binary search in the id-sorted list (code-unit order), undefined when absent', () => {
    const agents = projectAgentsBody(body()).agents;
    for (const index of [0, 1, 1170, agents.length - 1]) expect(findById(agents, agents[index]!.id)).toBe(agents[index]);
    expect(findById(agents, 'zzz-not-there')).toBeUndefined();
    expect(findById(agents, '')).toBeUndefined();
    expect(findById([], 'a')).toBeUndefined();
  });

  it('with the served list, an unchanged agent (up to capability and tag order) is the served object and any change a new projection, as projecting afresh gives', () => {
    const cap = (name: string, version: string, tags: string[]) => ({ available: true, description: '', function_name: `fn_${name}`, name, tags, version });
    const base = { capabilities: [cap('forecast', '1.0.0', ['weather', 'prod']), cap('geocode', '2.0.0', ['maps']), cap('forecast', '1.0.0', ['x'])] };
    // Each variant of agent k, as the next poll lists it; `same` when its projection is unchanged.
    const variants: { same: boolean; fields: Record<string, unknown> }[] = [
      { same: true, fields: {} },
      { same: true, fields: { capabilities: [base.capabilities[2], base.capabilities[0], base.capabilities[1]] } },
      { same: true, fields: { capabilities: [cap('forecast', '1.0.0', ['prod', 'weather']), base.capabilities[1], base.capabilities[2]] } },
      { same: true, fields: { last_seen: '2026-12-02T00:00:00Z', description: 'changed', created_at: 'x' } },
      { same: false, fields: { capabilities: [cap('forecast', '1.0.0', ['weather', 'weather']), base.capabilities[1], base.capabilities[2]] } },
      { same: false, fields: { capabilities: [cap('forecast', '1.0.1', ['weather', 'prod']), base.capabilities[1], base.capabilities[2]] } },
      { same: false, fields: { capabilities: [base.capabilities[0], base.capabilities[1], base.capabilities[0]] } },
      { same: false, fields: { capabilities: [base.capabilities[0], base.capabilities[1]] } },
      { same: false, fields: { capabilities: null } },
      // Other spellings of the served endpoint: parsed again, still the served object.
      { same: true, fields: { endpoint: 'http://10.0.0.7:08081' } },
      { same: false, fields: { endpoint: 'http://10.0.0.99:8081' } },
      { same: false, fields: { endpoint: 'http://10.0.0.7:8082' } },
      { same: false, fields: { endpoint: 'https://10.0.0.7:8081' } },
      { same: false, fields: { name: 'other' } },
      { same: false, fields: { version: '9.9.9' } },
      { same: false, fields: { runtime: 'typescript' } },
      { same: false, fields: { agent_type: 'api' } },
    ];
    const agent = (k: number, fields: Record<string, unknown> = {}) => agentInfo({ id: `agent-${String(k).padStart(3, '0')}`, endpoint: 'http://10.0.0.7:8081', ...base, ...fields });
    const first = Buffer.from(JSON.stringify(agentsBody(variants.map((_, k) => agent(k)))));
    const next = Buffer.from(JSON.stringify(agentsBody(variants.map(({ fields }, k) => agent(k, fields)))));
    const served = feed(first, []);
    const agents = feed(next, served);
    expect(agents).toEqual(projectAgentsBody(readAgentsBody(next)).agents);
    variants.forEach(({ same }, k) => expect(agents[k] === served[k], `variant ${k}`).toBe(same));
  });

  describe('a poll with the served list', () => {
    const agent = (k: number, fields: Record<string, unknown> = {}) => agentInfo({ id: `agent-${String(k).padStart(3, '0')}`, endpoint: `http://10.0.0.${k + 1}:8081`, ...fields });
    const bodyOf = (agents: Record<string, unknown>[]) => Buffer.from(JSON.stringify(agentsBody(agents)));
    // Listed in another order than by id, as a registry may.
    const served = feed(bodyOf([4, 1, 0, 3, 2].map((k) => agent(k))), []);

    it('where nothing changed, gives the served list itself, and the diff sees it unchanged', async () => {
      const agents = feed(bodyOf([2, 0, 1, 4, 3].map((k) => agent(k, { last_seen: '2026-12-02T08:00:00Z' }))), served);
      expect(agents).toBe(served);
      expect(await diffAgentsSliced(served, agents)).toEqual({ same: true, changed: [] });
    });

    it.each([
      ['an agent gone', [0, 1, 3, 4].map((k) => agent(k))],
      ['an agent turned unhealthy', [0, 1, 2, 3, 4].map((k) => agent(k, k === 2 ? { status: 'unhealthy' } : {}))],
      ['an agent now skipped (loopback endpoint)', [0, 1, 2, 3, 4].map((k) => agent(k, k === 2 ? { endpoint: 'http://127.0.0.1:8081' } : {}))],
      ['an agent added', [0, 1, 2, 3, 4, 5].map((k) => agent(k))],
      ['an agent changed', [0, 1, 2, 3, 4].map((k) => agent(k, k === 2 ? { version: '2.0.0' } : {}))],
    ])('with %s, gives a new list equal to projecting afresh, the unchanged agents being the served objects', (_label, agents) => {
      const input = bodyOf(agents);
      const result = feed(input, served);
      expect(result).not.toBe(served);
      expect(result).toEqual(projectAgentsBody(readAgentsBody(input)).agents);
      for (const projection of result) {
        const before = served.find((agent) => agent.id === projection.id);
        expect(projection === before, projection.id).toBe(before !== undefined && projection.version === before.version);
      }
    });

    it.each([
      ['a served id twice', [0, 1, 2, 3, 4, 1]],
      ['a served id twice, once unhealthy', [0, 1, 2, 3, 4, -3]],
      ['a new id twice', [0, 1, 2, 3, 4, 7, 7]],
    ])('fails on %s', (_label, keys) => {
      const agents = keys.map((k) => (k < 0 ? agent(-k, { status: 'unhealthy' }) : agent(k)));
      expect(() => feed(bodyOf(agents), served)).toThrow(/appears twice/);
    });
  });

  // The sync keeps, per listing, the agent at each position of the last body, and the reader takes
  // an id or name equal to that agent's as its string (AgentsBodyReader's `expect`). The guess is
  // right while the registry keeps its insertion order and wrong after a removal, a re-ordering or
  // a rename: either way each poll must project exactly what projecting afresh gives.
  it('with the last body\'s order kept across 40 polls of random changes (removed, inserted, moved, renamed, unhealthy, skipped), each poll projects as afresh', () => {
    const random = seededRandom(41);
    const pick = (length: number) => random.int(length);
    let serial = 0;
    const fresh = () => {
      serial++;
      return { id: `agent-${String(serial).padStart(4, '0')}`, name: `name-${serial % 7}`, endpoint: `http://10.1.${serial >> 8}.${serial & 0xff}:8000`, status: 'healthy' };
    };
    let agents = Array.from({ length: 60 }, fresh);
    const memory = newListingMemory();
    const { bodyOrder } = memory;
    let served: readonly AgentProjection[] = [];
    for (let poll = 0; poll < 40; poll++) {
      for (let change = pick(4); change > 0; change--) {
        const at = pick(agents.length);
        const agent = agents[at]!;
        switch (pick(7)) {
          case 0: agents.splice(at, 1); break;
          case 1: agents.splice(at, 0, fresh()); break;
          case 2: agents.push(fresh()); break;
          case 3: agents.splice(pick(agents.length), 0, ...agents.splice(at, 1)); break;
          case 4: agents[at] = { ...agent, name: `${agent.name}x` }; break;
          case 5: agents[at] = { ...agent, status: agent.status === 'healthy' ? 'unhealthy' : 'healthy' }; break;
          default: agents[at] = { ...agent, endpoint: agent.endpoint.startsWith('http://127.') ? agent.endpoint.replace('127.', '10.') : agent.endpoint.replace('10.', '127.') };
        }
      }
      const body = Buffer.from(JSON.stringify(agentsBody(agents.map((agent) => agentInfo(agent)))));
      const projector = new AgentsProjector(undefined, served, memory);
      const reader = new AgentsBodyReader(DEFAULT_AGENTS_BODY_LIMITS, (raw) => projector.add(raw), projector.expectedAt);
      for (let offset = 0; offset < body.length; offset += 1000) reader.write(body.subarray(offset, offset + 1000));
      reader.end();
      const result = projector.finish();
      const afresh = projectAgentsBody(readAgentsBody(body));
      expect(result, `poll ${poll}`).toEqual(afresh);
      // Each position holds what its agent was listed as: null when unhealthy or skipped.
      expect(bodyOrder.map((agent) => agent?.id ?? null), `poll ${poll}`).toEqual(agents.map((agent) => (afresh.agents.some((listed) => listed.id === agent.id) ? agent.id : null)));
      served = result.agents;
    }
  });

  it('diffAgentsSliced: a freshly parsed agent equal to the served one is replaced by the served object (one copy for sync and zone), members changed or not', async () => {
    const a = projectAgentsBody(body()).agents;
    // A new poll: every agent a new object, one changed, one gone, one new.
    const fresh = projectAgentsBody(body()).agents;
    fresh[2100] = { ...fresh[2100]!, port: 1 };
    const removed = fresh.splice(40, 1)[0]!;
    fresh.push({ ...fresh[0]!, id: 'zzz-new-agent' });
    const diff = await diffAgentsSliced(a, fresh, 1000);
    expect(diff).toEqual({ same: false, changed: null });
    expect(fresh.filter((agent, index) => agent === a[index < 40 ? index : index + 1]).length).toBe(a.length - 2);
    expect(fresh[2099]).not.toBe(a[2100]); // the changed one stays the new object
    expect(fresh.includes(removed)).toBe(false);
    expect(fresh.at(-1)!.id).toBe('zzz-new-agent');
    // Same members: the unchanged ones are the served objects, the changed one is listed.
    const again = projectAgentsBody(body()).agents;
    again[7] = { ...again[7]!, port: 2 };
    const sameMembers = await diffAgentsSliced(a, again, 1000);
    expect(sameMembers).toEqual({ same: false, changed: [again[7]] });
    expect(again.every((agent, index) => index === 7 || agent === a[index])).toBe(true);
  });
});

