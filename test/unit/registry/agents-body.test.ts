// The streaming GET /agents reader and its tokenizer, against a corpus: bodies captured from the
// real registry binary (test/unit/registry/corpus, see its README), every truncation of them,
// deep nesting, huge strings, wrong types, duplicate keys, numbers as strings, and a differential
// check of the tokenizer against JSON.parse.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AgentsBodyReader, DEFAULT_AGENTS_BODY_LIMITS, readAgentsBody, type AgentsBodyLimits } from '../../../src/registry/agents-body.ts';
import { RegistryFormatError } from '../../../src/registry/errors.ts';
import { decodedValueStrings, JsonTokenizer, parseJsonBounded, recentStringMisses, type JsonEvents } from '../../../src/registry/json-stream.ts';
import { AgentsProjector, newListingMemory, projectAgentsBody } from '../../../src/registry/projection.ts';
import type { AgentProjection } from '../../../src/registry/types.ts';
import { agentInfo, agentsBody } from '../../support/registry.ts';
import { seededRandom } from '../../support/seeded-random.ts';

const corpus = (name: string) => readFileSync(new URL(`./corpus/${name}`, import.meta.url));
const realAgents = corpus('real-agents.json');
const realEmpty = corpus('real-empty.json');
const bytes = (text: string) => Buffer.from(text, 'utf8');

function formatError(run: () => unknown): RegistryFormatError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(RegistryFormatError);
    return error as RegistryFormatError;
  }
  throw new Error('accepted');
}

const read = (text: string, limits: Partial<AgentsBodyLimits> = {}) => readAgentsBody(bytes(text), { ...DEFAULT_AGENTS_BODY_LIMITS, ...limits });

/** Rebuilds a value from tokenizer events: what JSON.parse would return, for differential tests. */
function rebuild(input: Uint8Array, chunkSize: number, internStrings = false, guess?: () => string | null): unknown {
  const stack: { container: unknown[] | Record<string, unknown>; key: string | null }[] = [];
  let root: unknown;
  let pendingKey: string | null = null;
  const put = (value: unknown) => {
    const top = stack.at(-1);
    if (!top) root = value;
    else if (Array.isArray(top.container)) top.container.push(value);
    else top.container[pendingKey!] = value;
  };
  const events: JsonEvents = {
    startObject() {
      const container = {};
      put(container);
      stack.push({ container, key: pendingKey });
    },
    startArray() {
      const container: unknown[] = [];
      put(container);
      stack.push({ container, key: pendingKey });
    },
    endObject() {
      stack.pop();
    },
    endArray() {
      stack.pop();
    },
    key(name) {
      pendingKey = name;
    },
    string: (value) => put(value),
    number: (value) => put(value),
    literal: (value) => put(value),
    internStrings,
    get expectedString() {
      return guess?.() ?? null;
    },
  };
  const tokenizer = new JsonTokenizer(events, { maxDepth: 64, maxStringBytes: 1 << 20 });
  for (let offset = 0; offset < input.length; offset += chunkSize) tokenizer.write(input.subarray(offset, offset + chunkSize));
  tokenizer.end();
  return root;
}

describe('agents body reader: real registry bodies', () => {
  it('keeps exactly the projection fields of a real 7-agent body (healthy, unhealthy, IPv6, hostname, stdio, unicode)', () => {
    const body = readAgentsBody(realAgents);
    const parsed = JSON.parse(realAgents.toString('utf8')) as { agents: Record<string, unknown>[] };
    expect(body.agents).toEqual(
      parsed.agents.map((agent, index) => ({
        index,
        id: agent['id'],
        name: agent['name'],
        status: agent['status'],
        endpoint: agent['endpoint'],
        version: agent['version'],
        runtime: agent['runtime'],
        agentType: agent['agent_type'],
        capabilities: ((agent['capabilities'] as Record<string, unknown>[] | null) ?? []).map((cap) => ({ name: cap['name'], version: cap['version'] ?? '', tags: cap['tags'] ?? [] })),
        oversized: false,
      })),
    );
    const projected = projectAgentsBody(body);
    expect(projected.agents.map((agent) => agent.id)).toEqual(['chat-11223344', 'geo-0c1d2e3f', 'uni-00000001', 'v6br-aaaa0003', 'weather-a1b2c3d4']);
    expect(projected.skipped).toEqual([{ id: 'stdio-aaaa0004', reason: 'stdio', endpoint: 'stdio://stdio-aaaa0004' }]);
  });

  it('reads `agents: null` from the real empty registry as no agents', () => {
    expect(readAgentsBody(realEmpty)).toEqual({ agents: null });
  });

  it('gives the same result whatever the chunk boundaries (1, 7 and 4096-byte chunks)', () => {
    const whole = readAgentsBody(realAgents);
    for (const size of [1, 7, 4096]) {
      const reader = new AgentsBodyReader();
      for (let offset = 0; offset < realAgents.length; offset += size) reader.write(realAgents.subarray(offset, offset + size));
      expect(reader.end()).toEqual(whole);
    }
  });

  it('with onAgent: hands each agent over as its object closes, in body order, and keeps none itself', () => {
    const whole = readAgentsBody(realAgents).agents!;
    const handed: unknown[] = [];
    // Valid during the call only (the next agent is read into the same objects): copied here.
    const reader = new AgentsBodyReader(DEFAULT_AGENTS_BODY_LIMITS, (agent) => handed.push(structuredClone(agent)));
    // The first agent is out before the body's end has arrived.
    const cut = realAgents.indexOf('"agent_type"', realAgents.indexOf('"id"', realAgents.indexOf('"agents"') + 200));
    reader.write(realAgents.subarray(0, cut));
    expect(handed.length).toBeGreaterThanOrEqual(1);
    reader.write(realAgents.subarray(cut));
    expect(reader.end()).toEqual({ agents: [] });
    expect(handed).toEqual(whole);
    // Every agent was read into one object and its capabilities into reused drafts; each copy
    // above is still the agent it was (a field left over from the agent before would show).
    const objects = new Set<unknown>();
    const capabilityLists = new Set<unknown>();
    const again = new AgentsBodyReader(DEFAULT_AGENTS_BODY_LIMITS, (agent) => {
      objects.add(agent);
      // A list with capabilities is the reused one (one without is a shared empty list).
      if (agent.capabilities.length > 0) capabilityLists.add(agent.capabilities);
    });
    again.write(realAgents);
    again.end();
    expect(objects.size).toBe(1);
    expect(capabilityLists.size).toBe(1);

    // An agent with fewer fields, capabilities and tags than the one before it, and one over the
    // capability bound (its list emptied), read into the same objects: nothing carries over.
    const mixed = bytes(JSON.stringify({ agents: [
      { id: 'a-1', name: 'a', status: 'healthy', endpoint: 'http://10.0.0.1:80', version: '2.0.0', runtime: 'java', agent_type: 'api', capabilities: [{ name: 'x', version: '1.0.0', tags: ['t1', 't2'] }, { name: 'y', tags: ['t3'] }] },
      { id: 'b-2', name: 'b', status: 'healthy', endpoint: 'http://10.0.0.2:80', capabilities: [{ name: 'z' }] },
      { id: 'c-3', name: 'c', status: 'healthy', endpoint: 'http://10.0.0.3:80', capabilities: Array.from({ length: 5 }, (_, i) => ({ name: `k${i}`, tags: ['u'] })) },
      { id: 'd-4', name: 'd', status: 'healthy', endpoint: 'http://10.0.0.4:80', version: null, capabilities: null },
    ] }));
    const limits = { ...DEFAULT_AGENTS_BODY_LIMITS, maxCapabilitiesPerAgent: 3 };
    const copies: unknown[] = [];
    const streaming = new AgentsBodyReader(limits, (agent) => copies.push(structuredClone(agent)));
    for (let offset = 0; offset < mixed.length; offset += 9) streaming.write(mixed.subarray(offset, offset + 9));
    streaming.end();
    expect(copies).toEqual(readAgentsBody(mixed, limits).agents);
    expect(copies.map((agent) => (agent as { oversized: boolean }).oversized)).toEqual([false, false, true, false]);
    // A malformed body still fails as a whole.
    const broken = new AgentsBodyReader(DEFAULT_AGENTS_BODY_LIMITS, () => undefined);
    expect(() => {
      broken.write(realAgents.subarray(0, realAgents.length - 3));
      broken.end();
    }).toThrow(RegistryFormatError);
  });

  it('rejects every truncation of a real body (never a partial agent list)', () => {
    const codes = new Set<string>();
    for (let length = 0; length < realAgents.length; length++) {
      codes.add(formatError(() => readAgentsBody(realAgents.subarray(0, length))).code);
    }
    // A prefix can end inside a number (`"http_port":80`), which is itself complete JSON only at top level.
    expect([...codes].sort()).toEqual(['TRUNCATED']);
  });
});

describe('agents body reader: hostile and broken bodies', () => {
  it('rejects nesting deeper than maxDepth at the first byte past it, with no memory growth', () => {
    // A body of brackets is refused at its first byte (not an object); behind a key the reader
    // skips, it is the depth bound that stops it.
    expect(formatError(() => readAgentsBody(Buffer.alloc(1024, '['))).code).toBe('NOT_AN_OBJECT');
    const brackets = Buffer.concat([bytes('{"x":'), Buffer.alloc(10 * 1024 * 1024, '[')]);
    const before = process.memoryUsage().heapUsed;
    const started = performance.now();
    const error = formatError(() => readAgentsBody(brackets));
    expect(error.code).toBe('TOO_DEEP');
    expect(error.message).toMatch(/deeper than 32 levels \(byte 36\)/);
    expect(performance.now() - started).toBeLessThan(100);
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(4 * 1024 * 1024);
  });

  it('accepts exactly maxDepth levels and rejects one more, also inside a skipped field', () => {
    const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
    // root object (1), agents list (2), agent (3), description value levels on top.
    const body = (depth: number) => `{"agents":[${JSON.stringify(agentInfo()).slice(0, -1)},"deep":${nested(depth)}}]}`;
    expect(read(body(29)).agents).toHaveLength(1);
    expect(formatError(() => read(body(30))).code).toBe('TOO_DEEP');
  });

  it('scans a 50 MB skipped string without keeping it, and keeps a huge kept string to its bound', () => {
    const reader = new AgentsBodyReader();
    const [head, tail] = JSON.stringify(agentsBody([agentInfo({ description: 'MARK' })])).split('MARK') as [string, string];
    const before = process.memoryUsage().heapUsed;
    reader.write(bytes(head));
    const chunk = Buffer.alloc(64 * 1024, 'x');
    for (let written = 0; written < 50 * 1024 * 1024; written += chunk.length) reader.write(chunk);
    reader.write(bytes(tail));
    const body = reader.end();
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(16 * 1024 * 1024);
    expect(body.agents).toHaveLength(1);
    expect(reader.keptBytes).toBeLessThan(2048);

    const longId = 'a'.repeat(5000);
    const projected = projectAgentsBody(read(JSON.stringify(agentsBody([agentInfo({ id: longId }), agentInfo({ id: 'ok-1' })]))));
    expect(projected.agents.map((agent) => agent.id)).toEqual(['ok-1']);
    expect(projected.skipped).toEqual([{ id: 'a'.repeat(1024), reason: 'oversized', endpoint: 'http://10.0.0.11:8081' }]);
  });

  it('marks an agent with too many capabilities or tags oversized, and serves the others', () => {
    const manyCaps = Array.from({ length: 257 }, (_, i) => ({ name: `cap${i}`, version: '1', tags: [] }));
    const manyTags = [{ name: 'c', version: '1', tags: Array.from({ length: 65 }, (_, i) => `t${i}`) }];
    const projected = projectAgentsBody(read(JSON.stringify(agentsBody([agentInfo({ id: 'caps-1', capabilities: manyCaps }), agentInfo({ id: 'tags-1', capabilities: manyTags }), agentInfo({ id: 'fine-1' })]))));
    expect(projected.agents.map((agent) => agent.id)).toEqual(['fine-1']);
    expect(projected.skipped.map((skip) => `${skip.id}:${skip.reason}`)).toEqual(['caps-1:oversized', 'tags-1:oversized']);
  });

  it('rejects more entries than maxAgents, and more kept bytes than maxProjectionBytes', () => {
    const three = JSON.stringify(agentsBody([agentInfo({ id: 'a-1' }), agentInfo({ id: 'a-2' }), agentInfo({ id: 'a-3' })]));
    expect(read(three, { maxAgents: 3 }).agents).toHaveLength(3);
    expect(formatError(() => read(three, { maxAgents: 2 })).code).toBe('TOO_MANY_AGENTS');
    expect(formatError(() => read(three, { maxProjectionBytes: 600 })).code).toBe('PROJECTION_TOO_LARGE');
  });

  it.each([
    ['numbers as strings in kept fields', '{"agents":[{"id":"a","name":"a","status":"healthy","endpoint":"http://10.0.0.1:80","version":1}]}', 'BAD_AGENT'],
    ['an agents list given as a string', '{"agents":"[]"}', 'AGENTS_NOT_A_LIST'],
    ['a kept key twice in one agent', '{"agents":[{"id":"a","id":"b","name":"a","status":"healthy","endpoint":"http://10.0.0.1:80"}]}', 'DUPLICATE_KEY'],
    ['"agents" twice', '{"agents":null,"agents":[]}', 'DUPLICATE_KEY'],
    ['a capability name twice', '{"agents":[{"id":"a","name":"a","status":"healthy","endpoint":"http://10.0.0.1:80","capabilities":[{"name":"x","name":"y"}]}]}', 'DUPLICATE_KEY'],
    ['data after the value', '{"agents":null} {}', 'NOT_JSON'],
    ['a trailing comma', '{"agents":[],}', 'NOT_JSON'],
    ['single quotes', "{'agents':null}", 'NOT_JSON'],
    ['a leading zero', '{"agents":null,"count":01}', 'NOT_JSON'],
    ['a bare minus', '{"count":-,"agents":null}', 'NOT_JSON'],
    ['a control character in a string', '{"agents":null,"x":"a\tb"}', 'NOT_JSON'],
    ['a bad escape', '{"agents":null,"x":"\\q"}', 'NOT_JSON'],
    ['a mismatched bracket', '{"agents":[}', 'NOT_JSON'],
    ['a literal cut short', '{"agents":null,"x":tru}', 'NOT_JSON'],
    ['a literal misspelt at its last byte', '{"agents":null,"x":nulx}', 'NOT_JSON'],
    ['a literal with trailing letters', '{"agents":null,"x":falsey}', 'NOT_JSON'],
    ['a bare word that is no literal', '{"agents":null,"x":yes}', 'NOT_JSON'],
    ['a capitalised literal', '{"agents":null,"x":True}', 'NOT_JSON'],
    ['a number with two points', '{"agents":null,"count":1.2.3}', 'NOT_JSON'],
    ['a number of 65 digits', `{"agents":null,"count":${'9'.repeat(65)}}`, 'NOT_JSON'],
    ['an empty body', '', 'TRUNCATED'],
    ['a top-level number', '42', 'NOT_AN_OBJECT'],
  ])('rejects %s', (_label, text, code) => {
    expect(formatError(() => read(text)).code).toBe(code);
  });

  it.each(['id', 'name', 'status', 'endpoint'])('rejects an agent without its required "%s", naming it', (missing) => {
    const agent: Record<string, string> = { id: 'a-1', name: 'a', status: 'healthy', endpoint: 'http://10.0.0.1:80' };
    delete agent[missing];
    const error = formatError(() => read(JSON.stringify({ agents: [agent] })));
    expect(error.code).toBe('BAD_AGENT');
    expect(error.message).toContain(`field "${missing}" is missing`);
  });

  it('allows an unknown key twice and numbers as strings in fields it does not keep', () => {
    const text = '{"agents":[{"id":"a-1","name":"a","status":"healthy","endpoint":"http://10.0.0.1:80","description":"x","description":"y","total_dependencies":"3"}],"count":"1"}';
    expect(read(text).agents?.map((agent) => agent.id)).toEqual(['a-1']);
  });

  it('rejects invalid UTF-8 in a string and decodes escapes, surrogate pairs and lone surrogates', () => {
    expect(formatError(() => readAgentsBody(Buffer.concat([bytes('{"agents":[{"id":"'), Buffer.from([0xff, 0xfe]), bytes('"}]}')]))).code).toBe('NOT_JSON');
    expect(formatError(() => readAgentsBody(Buffer.concat([bytes('{"agents":null,"'), Buffer.from([0xc3]), bytes('":1}')]))).code).toBe('NOT_JSON');
    const text = '{"agents":[{"id":"\\u0061-1","name":"\\ud83d\\ude00","status":"healthy","endpoint":"http://10.0.0.1:80","version":"\\ud800x\\n\\/"}]}';
    expect(read(text).agents![0]).toMatchObject({ id: 'a-1', name: '😀', version: '\ufffdx\n/' });
  });
});

describe('agents read into reused drafts (onAgent) against agents read into their own objects', () => {
  it('gives the same agents for 300 random bodies, whatever the chunk size: optional fields, capabilities and tags come and go', () => {
    const random = seededRandom(90);
    const words = ['healthy', 'unhealthy', '1.0.0', '2.1.0', 'python', 'java', 'mcp_agent', 'api', 'weather', 'geo', 'prod', 'x'.repeat(70), 'é', ''];
    const limits = { ...DEFAULT_AGENTS_BODY_LIMITS, maxCapabilitiesPerAgent: 4, maxTagsPerCapability: 3 };
    for (let round = 0; round < 300; round++) {
      const agents = Array.from({ length: random.int(8) }, (_, index) => {
        const agent: Record<string, unknown> = { id: `agent-${round}-${index}`, name: random.pick(words), status: random.pick(['healthy', 'healthy', 'unhealthy']), endpoint: `http://10.0.${round & 0xff}.${index}:80` };
        for (const key of ['version', 'runtime', 'agent_type']) {
          const roll = random.int(3);
          if (roll === 1) agent[key] = random.pick(words);
          else if (roll === 2) agent[key] = null;
        }
        const roll = random.int(4);
        if (roll === 1) agent['capabilities'] = null;
        else if (roll >= 2) {
          agent['capabilities'] = Array.from({ length: random.int(7) }, () => {
            const capability: Record<string, unknown> = { name: random.pick(words), description: 'skipped' };
            if (random.int(2) === 1) capability['version'] = random.int(2) === 1 ? random.pick(words) : null;
            const tags = random.int(3);
            if (tags === 1) capability['tags'] = null;
            else if (tags === 2) capability['tags'] = Array.from({ length: random.int(5) }, () => random.pick(words));
            return capability;
          });
        }
        return agent;
      });
      const text = bytes(JSON.stringify({ agents, count: agents.length }));
      const copies: unknown[] = [];
      const reader = new AgentsBodyReader(limits, (agent) => copies.push(structuredClone(agent)));
      const chunk = 1 + random.int(64);
      for (let offset = 0; offset < text.length; offset += chunk) reader.write(text.subarray(offset, offset + chunk));
      reader.end();
      expect(copies, `round ${round}`).toEqual(readAgentsBody(text, limits).agents ?? []);
    }
  });
});

describe('JSON tokenizer against JSON.parse', () => {
  // Deterministic pseudo-random documents (no clock, no Math.random): mulberry32.
  function random(seed: number) {
    return () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }
  function value(next: () => number, depth: number): unknown {
    const pick = Math.floor(next() * (depth > 5 ? 4 : 6));
    const strings = ['', 'a', 'é中', '😀', '"\\/\b\f\n\r\t', '\u0001\u001f', 'x'.repeat(300)];
    switch (pick) {
      case 0: return strings[Math.floor(next() * strings.length)];
      case 1: return [0, -1, 1.5, -2.5e-7, 1e21, 123456789012345][Math.floor(next() * 6)];
      case 2: return [true, false][Math.floor(next() * 2)];
      case 3: return null;
      case 4: return Array.from({ length: Math.floor(next() * 4) }, () => value(next, depth + 1));
      default: return Object.fromEntries(Array.from({ length: Math.floor(next() * 4) }, (_, i) => [`k${i}${strings[i % 4]}`, value(next, depth + 1)]));
    }
  }

  it('rebuilds 500 random documents exactly, whatever the chunk size', () => {
    const next = random(6);
    for (let i = 0; i < 500; i++) {
      const doc = value(next, 0);
      const text = bytes(JSON.stringify(doc, null, i % 2 === 0 ? 0 : 2));
      expect(rebuild(text, 1 + (i % 13))).toEqual(JSON.parse(text.toString('utf8')));
    }
  });

  it('decodes object keys exactly through the recent-key table: 5,000 distinct keys sharing its 256 slots, each asked twice', () => {
    const next = random(11);
    const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-. ';
    const keys = new Set<string>(['', 'a', 'id', 'name', 'x'.repeat(64), 'y'.repeat(65), 'é', 'naïve', '\u2028']);
    while (keys.size < 5000) keys.add(Array.from({ length: 1 + Math.floor(next() * 30) }, () => alphabet[Math.floor(next() * alphabet.length)]).join(''));
    // Each key twice, in two objects: a slot taken by another key must not answer for this one.
    const doc = [Object.fromEntries([...keys].map((key, i) => [key, i])), Object.fromEntries([...keys].reverse().map((key, i) => [key, -i]))];
    const text = bytes(JSON.stringify(doc));
    for (const chunkSize of [7, 4096]) expect(rebuild(text, chunkSize)).toEqual(JSON.parse(text.toString('utf8')));
  });

  it('decodes string values exactly through the recent-value table: 5,000 distinct values sharing its 1,024 slots, each asked twice', () => {
    const next = random(12);
    const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-. ';
    const values = new Set<string>(['', 'a', 'healthy', '1.0.0', 'x'.repeat(64), 'y'.repeat(65), 'é', 'naïve', '\u2028', 'a"b', 'a\\b']);
    while (values.size < 5000) values.add(Array.from({ length: 1 + Math.floor(next() * 30) }, () => alphabet[Math.floor(next() * alphabet.length)]).join(''));
    // Each value twice: a slot taken by another value must not answer for this one.
    const doc = { first: [...values], again: [...values].reverse(), numbers: [0, 7, -1, 12.5, 1e21, Number('9'.repeat(64))], literals: [true, false, null] };
    const text = bytes(JSON.stringify(doc));
    for (const chunkSize of [5, 4096]) expect(rebuild(text, chunkSize, true)).toEqual(JSON.parse(text.toString('utf8')));
  });

  // Every agent repeats the registry's ~25 keys and a few values (status, versions, runtime,
  // capability names and tags): reading them must not decode a new string each time. Two pairs of
  // the registry's own keys (version/runtime, endpoint/id) once shared a slot and missed in every agent.
  it('decodes the registry\'s keys and repeated values once: a second read of the same 300 agents decodes no string anew', () => {
    const agents = (JSON.parse(realAgents.toString('utf8')) as { agents: Record<string, unknown>[] }).agents;
    const many = Array.from({ length: 300 }, (_, index) => ({ ...agents[index % agents.length]!, id: `agent-${index}-0000`, name: `agent-${index}`, endpoint: `http://10.0.${index >> 8}.${index & 0xff}:8000` }));
    const body = bytes(JSON.stringify({ agents: many, count: many.length, timestamp: '2026-12-05T00:00:00Z' }));
    const readOnce = () => {
      const kept: unknown[] = [];
      const reader = new AgentsBodyReader(DEFAULT_AGENTS_BODY_LIMITS, (agent) => kept.push(agent));
      for (let offset = 0; offset < body.length; offset += 4096) reader.write(body.subarray(offset, offset + 4096));
      reader.end();
      return kept;
    };
    const first = readOnce();
    const missesBefore = recentStringMisses();
    expect(readOnce()).toEqual(first);
    expect(first).toHaveLength(300);
    expect(recentStringMisses() - missesBefore).toBe(0);
  });

  // A value equal to the expected string is that string; any other is decoded as before. Guesses
  // here are the right value, a neighbour of the same length, a prefix, a longer string, the
  // value with one character changed, a non-ASCII string, or none.
  it('decodes string values exactly whatever string is expected: 5,000 values, each read with a right or a wrong guess', () => {
    const next = random(13);
    const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789-.';
    // ASCII values (a guess is asked for those only: others are decoded as UTF-8 whatever is expected).
    const values: string[] = ['', 'a', 'a"b', 'a\\b', 'x'.repeat(200)];
    while (values.length < 5000) values.push(Array.from({ length: 1 + Math.floor(next() * 30) }, () => alphabet[Math.floor(next() * alphabet.length)]).join(''));
    const doc = { values, again: [...values].reverse() };
    const order = [...doc.values, ...doc.again];
    for (const chunkSize of [3, 4096]) {
      let at = 0;
      let right = 0;
      const guessFor = (value: string): string | null => {
        const kind = Math.floor(next() * 7);
        if (kind === 0) return value;
        if (kind === 1) return value.length > 0 ? value.slice(0, -1) + (value.at(-1) === 'a' ? 'b' : 'a') : 'a';
        if (kind === 2) return value.slice(0, Math.floor(value.length / 2));
        if (kind === 3) return `${value}x`;
        if (kind === 4) return 'é'.repeat(value.length);
        if (kind === 5) return order[Math.floor(next() * order.length)]!;
        return null;
      };
      const guess = (): string | null => {
        const value = order[at++]!;
        const guessed = guessFor(value);
        // A wrong kind of guess may still be right (a random pick of an equal value).
        if (guessed === value) right++;
        return guessed;
      };
      const decodedBefore = decodedValueStrings();
      expect(rebuild(bytes(JSON.stringify(doc)), chunkSize, false, guess)).toEqual(doc);
      expect(at).toBe(order.length);
      // A new string for every value but those guessed right.
      expect(decodedValueStrings() - decodedBefore).toBe(order.length - right);
    }
  });

  // The registry lists agents in the same order poll after poll (reference §3.3: observed, not
  // promised): the ids and names of the agents at the same positions as last time are taken as the
  // served strings, so an unchanged poll decodes only the endpoints anew.
  it('with the last poll\'s agent expected at each position, a second read of 300 agents decodes only their endpoints; a shifted order decodes as before and projects the same', () => {
    const agents = (JSON.parse(realAgents.toString('utf8')) as { agents: Record<string, unknown>[] }).agents.filter((agent) => agent['status'] === 'healthy');
    const many = Array.from({ length: 300 }, (_, index) => ({ ...agents[index % agents.length]!, id: `agent-${index}-0000`, name: `agent-${index}`, endpoint: `http://10.0.${index >> 8}.${index & 0xff}:8000` }));
    const bodyOf = (list: Record<string, unknown>[]) => bytes(JSON.stringify({ agents: list, count: list.length, timestamp: '2026-12-05T00:00:00Z' }));
    const memory = newListingMemory();
    const { bodyOrder } = memory;
    let served: readonly AgentProjection[] = [];
    const poll = (body: Buffer) => {
      const projector = new AgentsProjector(undefined, served, memory);
      const reader = new AgentsBodyReader(DEFAULT_AGENTS_BODY_LIMITS, (agent) => projector.add(agent), projector.expectedAt);
      const decodedBefore = decodedValueStrings();
      for (let offset = 0; offset < body.length; offset += 4096) reader.write(body.subarray(offset, offset + 4096));
      reader.end();
      served = projector.finish().agents;
      return decodedValueStrings() - decodedBefore;
    };
    const body = bodyOf(many);
    expect(poll(body)).toBe(3 * 300);
    expect(bodyOrder.map((agent) => agent?.id)).toEqual(many.map((agent) => agent.id));
    const first = served;
    expect(poll(body)).toBe(300);
    expect(served).toBe(first);
    // The first agent gone: every position now holds the one after it, so no guess is right.
    const shifted = bodyOf(many.slice(1));
    expect(poll(shifted)).toBe(3 * 299);
    expect(served).toEqual(projectAgentsBody(readAgentsBody(shifted)).agents);
    expect(bodyOrder).toHaveLength(299);
    expect(poll(shifted)).toBe(299);
  });

  it('parseJsonBounded refuses depth before JSON.parse sees the input', () => {
    expect(parseJsonBounded(bytes('{"a":[1,{"b":null}]}'), { maxDepth: 3, maxStringBytes: 16 })).toEqual({ a: [1, { b: null }] });
    expect(formatError(() => parseJsonBounded(bytes('[[[[]]]]'), { maxDepth: 3, maxStringBytes: 16 })).code).toBe('TOO_DEEP');
  });
});
