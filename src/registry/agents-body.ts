// Reads a GET /agents body (`AgentsListResponse`, reference §3.3) chunk by chunk and keeps only
// the fields the projection needs. Memory is bounded by what is kept, never by the body: the
// tokenizer holds one string and a depth stack (json-stream.ts), and every kept value is
// accounted against `maxProjectionBytes`. Everything else — descriptions, dependency and LLM
// resolutions, timestamps — is scanned for syntax and depth and dropped.
//
// Validation follows projection.ts's policy: a body that is not a registry answer (wrong types,
// a kept key twice, too many entries, too deep) fails the whole poll, so the last good zone keeps
// serving. One agent whose kept fields exceed the bounds (a 5,000-byte capability name, 10,000
// capabilities) is not a malformed body: the registry accepts such agents (reference §9 pitfall
// 4), so that agent is marked `oversized` and left out of the zone, and the others are served.
import { RegistryFormatError } from './errors.ts';
import { JsonTokenizer, type JsonEvents } from './json-stream.ts';
import type { CapabilityProjection } from './types.ts';

/** The kept fields of one `AgentInfo`, checked for type, not yet projected. */
export interface RawAgent {
  /** Position in the body, for messages. */
  index: number;
  id: string;
  name: string;
  status: string;
  endpoint: string;
  version: string;
  runtime: string;
  agentType: string;
  /** In body order (projection sorts). */
  capabilities: CapabilityProjection[];
  /** A kept field exceeded its bound; the strings may be cut and the capabilities incomplete. */
  oversized: boolean;
}

export interface AgentsBodyLimits {
  /** Entries of `agents`, healthy or not (the registry keeps unhealthy ones up to 1 h). */
  maxAgents: number;
  /** Nesting of the body. The registry's own bodies nest 6 deep (dependency tags). */
  maxDepth: number;
  /** One kept string (id, name, endpoint, capability, tag). Longer marks the agent oversized. */
  maxStringBytes: number;
  maxCapabilitiesPerAgent: number;
  maxTagsPerCapability: number;
  /** Sum over kept strings of (bytes + KEPT_VALUE_OVERHEAD): the bound on the projection's memory. */
  maxProjectionBytes: number;
}

/**
 * Reference §8: ~750 B per agent, 10,000 agents = 7.5 MB. Ids are ≤ 253 characters and endpoints
 * carry a ≤ 253-character host, so 1 KiB per kept string leaves room without letting one field
 * grow without bound. 64 MiB of accounted projection is ~6× what 50,000 such agents keep.
 */
export const DEFAULT_AGENTS_BODY_LIMITS: AgentsBodyLimits = {
  maxAgents: 50_000,
  maxDepth: 32,
  maxStringBytes: 1024,
  maxCapabilitiesPerAgent: 256,
  maxTagsPerCapability: 64,
  maxProjectionBytes: 64 * 1024 * 1024,
};

/** What a kept JS string costs beyond its characters (header, pointer in its array or object). */
const KEPT_VALUE_OVERHEAD = 32;

type Frame = 'root' | 'agents' | 'agent' | 'capabilities' | 'capability' | 'tags';

type AgentStringField = 'id' | 'name' | 'status' | 'endpoint' | 'version' | 'runtime' | 'agentType';

/** `bit`: the key's bit in the agent's seen-keys mask (#agentSeen). */
const AGENT_STRING_FIELDS: Record<string, { field: AgentStringField; required: boolean; bit: number }> = {
  id: { field: 'id', required: true, bit: 1 },
  name: { field: 'name', required: true, bit: 2 },
  status: { field: 'status', required: true, bit: 4 },
  endpoint: { field: 'endpoint', required: true, bit: 8 },
  version: { field: 'version', required: false, bit: 16 },
  runtime: { field: 'runtime', required: false, bit: 32 },
  agent_type: { field: 'agentType', required: false, bit: 64 },
};
const REQUIRED_AGENT_FIELDS = Object.entries(AGENT_STRING_FIELDS).filter(([, spec]) => spec.required).map(([key, spec]) => ({ key, field: spec.field }));

// Bits of the keys read once per object (#once): an agent's `capabilities`, a capability's keys.
const CAPABILITIES_BIT = 128;
const CAPABILITY_KEY_BITS: Readonly<Record<string, number>> = { name: 1, version: 2, tags: 4 };

const UNKNOWN_KEY = '\u0000';
/** Keys whose string values the reader looks at (kept, or checked for type); others are skipped undecoded. */
const READ_KEYS = new Set(['agents', 'capabilities', 'tags', 'name', 'version', ...Object.keys(AGENT_STRING_FIELDS)]);

/**
 * An agent while its object is read: the RawAgent handed on, its required fields still null until
 * #finishAgent has checked them. One object per agent and per capability, the ones kept: a poll
 * reads every agent of the registry, so each object more per agent is 10,000 per poll at 10,000
 * agents (test/bench/poll-promotion.ts counts what a poll allocates).
 */
type AgentDraft = Omit<RawAgent, 'id' | 'name' | 'status' | 'endpoint'> & {
  id: string | null;
  name: string | null;
  status: string | null;
  endpoint: string | null;
};

type CapabilityDraft = Omit<CapabilityProjection, 'name'> & { name: string | null };

/**
 * The agent probably at a position of the body: the one there in the last poll's body (the
 * registry lists agents in insertion order, reference §3.3: not promised, so only ever a guess).
 */
export interface ExpectedAgent {
  readonly id: string;
  readonly name: string;
}

/** The agent expected at body position `index`, or null for no guess. */
export type ExpectAgent = (index: number) => ExpectedAgent | null;

export interface AgentsBody {
  /** null when the registry sent `agents: null` (its empty list). */
  agents: RawAgent[] | null;
}

/** Feed with write(chunk) as the body arrives; end() returns the kept agents or throws RegistryFormatError. */
export class AgentsBodyReader implements JsonEvents {
  /** See JsonEvents.skipStrings: inside a skipped value, or after a key nobody reads. */
  skipStrings = false;
  /** See JsonEvents.internStrings: every kept value but those usually unique per agent (id, endpoint, name). */
  internStrings = true;
  /** See JsonEvents.expectedString: the expected agent's id or name, for those two keys of an agent. */
  expectedString: string | null = null;
  readonly #limits: AgentsBodyLimits;
  readonly #tokenizer: JsonTokenizer;
  readonly #frames: Frame[] = [];
  #skipDepth = 0;
  #key = UNKNOWN_KEY;
  #agents: RawAgent[] | null = null;
  #agentsSeen = false;
  #entries = 0;
  #keptBytes = 0;
  #agent: AgentDraft | null = null;
  /** Keys of the current agent and capability already read, as bits (a Set per object before). */
  #agentSeen = 0;
  #capability: CapabilityDraft | null = null;
  #capabilitySeen = 0;
  readonly #onAgent: ((agent: RawAgent) => void) | null;
  readonly #expect: ExpectAgent | null;
  /** The agent expected at the current position (#newAgent), for expectedString. */
  #expectedAgent: ExpectedAgent | null = null;
  /**
   * With onAgent, one draft, its capability list, the capability drafts and their tag lists are
   * reused for every agent (see the constructor): 7.0 -> 2.1 MiB allocated per 10,000-agent poll
   * (test/bench/poll-promotion.ts --allocations; what is left is ids, endpoints and names).
   * Bounded by the per-agent limits (maxCapabilitiesPerAgent + 1 drafts and tag lists).
   */
  #reusedAgent: AgentDraft | null = null;
  readonly #reusedCapabilities: CapabilityDraft[] = [];
  /** The reused agent's capability list and each reused capability's tag list (by slot). */
  readonly #reusedCapabilityList: CapabilityProjection[] = [];
  readonly #reusedTagLists: string[][] = [];
  #capabilitiesUsed = 0;
  /**
   * Capabilities kept for the current agent and tags for the current capability: the lists are
   * filled by index and cut to these counts when the object closes, never emptied with
   * `length = 0`, which makes V8 drop an array's elements (the next push allocates them again).
   */
  #capabilityCount = 0;
  #tagCount = 0;

  /**
   * `onAgent`: each agent is handed over as soon as its object closes and not kept here (the sync
   * projects it at once, so a poll never holds the whole list of raw agents: see sync.ts);
   * end() then returns an empty list. Without it, end() returns every agent. The object handed
   * over, its capabilities and their tag lists are valid during the call only: the next agent is
   * read into the same ones (AgentsProjector.add copies what it keeps: strings, and capabilities
   * rebuilt through its shared table).
   *
   * `expect`: the agent probably at each position (AgentsProjector.expectedAt, from the last
   * poll). An id or name whose bytes are that agent's is handed over as the served agent's own
   * string instead of a new one: the ids, names and endpoints decoded were 1.0 of the 1.7 MiB a
   * 10,000-agent poll of the registry's own body allocated, now 1.0-1.05 MiB (0.4 of it the
   * endpoints; test/bench/poll-promotion.ts --body --allocations). Each MiB a poll allocates is
   * another scavenge during it, which promotes what the poll holds meanwhile (the request, the
   * socket's buffers, the projector) to the old generation until the next full GC.
   */
  constructor(limits: AgentsBodyLimits = DEFAULT_AGENTS_BODY_LIMITS, onAgent?: (agent: RawAgent) => void, expect?: ExpectAgent) {
    this.#limits = limits;
    this.#onAgent = onAgent ?? null;
    this.#expect = expect ?? null;
    this.#tokenizer = new JsonTokenizer(this, { maxDepth: limits.maxDepth, maxStringBytes: limits.maxStringBytes });
  }

  write(chunk: Uint8Array): void {
    this.#tokenizer.write(chunk);
  }

  end(): AgentsBody {
    this.#tokenizer.end();
    return { agents: this.#agents };
  }

  /** Bytes accounted to kept values so far. */
  get keptBytes(): number {
    return this.#keptBytes;
  }

  // --- JsonEvents ---------------------------------------------------------------------------

  startObject(): void {
    this.#startContainer(true);
  }

  startArray(): void {
    this.#startContainer(false);
  }

  endObject(): void {
    this.#endContainer();
  }

  endArray(): void {
    this.#endContainer();
  }

  key(name: string, truncated: boolean): void {
    this.expectedString = null;
    if (this.#skipDepth > 0) return;
    this.#key = truncated ? UNKNOWN_KEY : name;
    this.skipStrings = !READ_KEYS.has(this.#key);
    // An agent's name is often its own (a capability's name rarely is): offering names that miss
    // costs a young string stored in an old table, which then survives its scavenge.
    this.internStrings = name !== 'id' && name !== 'endpoint' && (name !== 'name' || this.#frames.at(-1) === 'capability');
    const expected = this.#expectedAgent;
    if (expected !== null && this.#frames.at(-1) === 'agent') {
      if (name === 'id') this.expectedString = expected.id;
      else if (name === 'name') this.expectedString = expected.name;
    }
  }

  string(value: string, truncated: boolean): void {
    this.#scalar(value, truncated);
  }

  number(value: number): void {
    this.#scalar(value, false);
  }

  literal(value: boolean | null): void {
    this.#scalar(value, false);
  }

  // --- structure ----------------------------------------------------------------------------

  #startContainer(isObject: boolean): void {
    this.expectedString = null;
    if (this.#skipDepth > 0) {
      this.#skipDepth++;
      return;
    }
    this.skipStrings = false;
    const parent = this.#frames.at(-1);
    const key = this.#key;
    const kind = isObject ? 'an object' : 'a list';
    switch (parent) {
      case undefined:
        if (!isObject) throw new RegistryFormatError('NOT_AN_OBJECT', 'GET /agents body is a list, not a JSON object');
        return this.#push('root');
      case 'root':
        if (key !== 'agents') return this.#skip();
        if (isObject) throw new RegistryFormatError('AGENTS_NOT_A_LIST', 'GET /agents "agents" is an object, not a list or null');
        this.#agentsKey();
        this.#agents = [];
        return this.#push('agents');
      case 'agents':
        if (!isObject) throw this.#badAgent(this.#entries, 'is a list, not an object');
        this.#newAgent();
        return this.#push('agent');
      case 'agent':
        if (key === 'capabilities') {
          this.#agentSeen = this.#once(this.#agentSeen, CAPABILITIES_BIT, key);
          if (isObject) throw this.#badCapability('"capabilities" is an object, not a list');
          return this.#push('capabilities');
        }
        if (key in AGENT_STRING_FIELDS) throw this.#badAgent(this.#agent!.index, `field "${key}" is ${kind}, not a string`);
        return this.#skip();
      case 'capabilities':
        if (!isObject) throw this.#badCapability('a capability is a list, not an object');
        this.#capability = this.#newCapability();
        this.#capabilitySeen = 0;
        return this.#push('capability');
      case 'capability':
        if (key === 'tags') {
          this.#capabilitySeen = this.#once(this.#capabilitySeen, CAPABILITY_KEY_BITS[key]!, key);
          if (isObject) throw this.#badCapability('capability tags are an object, not a list of strings');
          return this.#push('tags');
        }
        if (key === 'name' || key === 'version') throw this.#badCapability(`a capability ${key} is ${kind}, not a string`);
        return this.#skip();
      case 'tags':
        throw this.#badCapability('capability tags are not a list of strings');
    }
  }

  #endContainer(): void {
    if (this.#skipDepth > 0) {
      this.#skipDepth--;
      this.skipStrings = this.#skipDepth > 0;
      return;
    }
    this.skipStrings = false;
    const frame = this.#frames.pop();
    this.#key = UNKNOWN_KEY;
    if (frame === 'agent') this.#finishAgent();
    else if (frame === 'capability') this.#finishCapability();
    else if (frame === 'root' && !this.#agentsSeen) {
      throw new RegistryFormatError('AGENTS_NOT_A_LIST', 'GET /agents body has no "agents" key');
    }
  }

  #push(frame: Frame): void {
    this.#frames.push(frame);
    this.#key = UNKNOWN_KEY;
  }

  #skip(): void {
    this.#skipDepth = 1;
    this.skipStrings = true;
  }

  #scalar(value: string | number | boolean | null, truncated: boolean): void {
    if (this.#skipDepth > 0) return;
    const parent = this.#frames.at(-1);
    const key = this.#key;
    switch (parent) {
      case undefined:
        throw new RegistryFormatError('NOT_AN_OBJECT', `GET /agents body is ${describe(value)}, not a JSON object`);
      case 'root':
        if (key !== 'agents') return;
        if (value !== null) throw new RegistryFormatError('AGENTS_NOT_A_LIST', `GET /agents "agents" is ${describe(value)}, not a list or null`);
        // `agents: null` is how the registry spells an empty list (reference §3.3, verified).
        this.#agentsKey();
        return;
      case 'agents':
        throw this.#badAgent(this.#entries, `is ${describe(value)}, not an object`);
      case 'agent':
        return this.#agentField(key, value, truncated);
      case 'capabilities':
        throw this.#badCapability(`a capability is ${describe(value)}, not an object`);
      case 'capability':
        return this.#capabilityField(key, value, truncated);
      case 'tags': {
        if (typeof value !== 'string') throw this.#badCapability('capability tags are not a list of strings');
        const capability = this.#capability!;
        if (this.#tagCount >= this.#limits.maxTagsPerCapability || truncated) {
          this.#agent!.oversized = true;
          return;
        }
        if (!this.#agent!.oversized) capability.tags[this.#tagCount++] = this.#keep(value);
        return;
      }
    }
  }

  #agentField(key: string, value: string | number | boolean | null, truncated: boolean): void {
    const agent = this.#agent!;
    if (key === 'capabilities') {
      this.#agentSeen = this.#once(this.#agentSeen, CAPABILITIES_BIT, key);
      if (value !== null) throw this.#badCapability(`"capabilities" is ${describe(value)}, not a list`);
      return;
    }
    const spec = AGENT_STRING_FIELDS[key];
    if (spec === undefined) return;
    this.#agentSeen = this.#once(this.#agentSeen, spec.bit, key);
    if (value === null && !spec.required) return;
    if (typeof value !== 'string') throw this.#badAgent(agent.index, `field "${key}" is ${describe(value)}, not a string`);
    if (truncated) agent.oversized = true;
    agent[spec.field] = this.#keep(value);
  }

  #capabilityField(key: string, value: string | number | boolean | null, truncated: boolean): void {
    const capability = this.#capability!;
    if (key === 'tags') {
      this.#capabilitySeen = this.#once(this.#capabilitySeen, CAPABILITY_KEY_BITS[key]!, key);
      if (value !== null) throw this.#badCapability('capability tags are not a list of strings');
      return;
    }
    if (key !== 'name' && key !== 'version') return;
    this.#capabilitySeen = this.#once(this.#capabilitySeen, CAPABILITY_KEY_BITS[key]!, key);
    if (key === 'version' && value === null) return;
    if (typeof value !== 'string') throw this.#badCapability(`a capability ${key} is ${describe(value)}, not a string`);
    if (truncated) this.#agent!.oversized = true;
    if (key === 'name') capability.name = this.#keep(value);
    else capability.version = this.#keep(value);
  }

  #agentsKey(): void {
    if (this.#agentsSeen) throw new RegistryFormatError('DUPLICATE_KEY', 'GET /agents body has "agents" twice');
    this.#agentsSeen = true;
  }

  #newAgent(): void {
    const index = this.#entries++;
    if (this.#entries > this.#limits.maxAgents) {
      throw new RegistryFormatError('TOO_MANY_AGENTS', `GET /agents lists more than ${this.#limits.maxAgents} agents (registry.maxAgents)`);
    }
    this.#agentSeen = 0;
    this.#capabilitiesUsed = 0;
    this.#capabilityCount = 0;
    this.#expectedAgent = this.#expect?.(index) ?? null;
    const reused = this.#reusedAgent;
    if (reused === null) {
      const capabilities = this.#onAgent !== null ? this.#reusedCapabilityList : [];
      this.#agent = { index, id: null, name: null, status: null, endpoint: null, version: '', runtime: '', agentType: '', capabilities, oversized: false };
      if (this.#onAgent !== null) this.#reusedAgent = this.#agent;
      return;
    }
    reused.index = index;
    reused.id = null;
    reused.name = null;
    reused.status = null;
    reused.endpoint = null;
    reused.version = '';
    reused.runtime = '';
    reused.agentType = '';
    reused.capabilities = this.#reusedCapabilityList;
    reused.oversized = false;
    this.#agent = reused;
  }

  #newCapability(): CapabilityDraft {
    this.#tagCount = 0;
    if (this.#onAgent === null) return { name: null, version: '', tags: [] };
    // Drafts past the per-agent bound are never kept (#finishCapability): the last one serves them.
    const slot = Math.min(this.#capabilitiesUsed++, this.#limits.maxCapabilitiesPerAgent);
    const capability = (this.#reusedCapabilities[slot] ??= { name: null, version: '', tags: [] });
    capability.name = null;
    capability.version = '';
    capability.tags = this.#reusedTagLists[slot] ??= [];
    return capability;
  }

  #finishCapability(): void {
    const capability = this.#capability!;
    const agent = this.#agent!;
    this.#capability = null;
    if (capability.name === null) throw this.#badCapability('a capability name is missing, not a string');
    capability.tags = cutTo(capability.tags, this.#tagCount);
    if (this.#capabilityCount >= this.#limits.maxCapabilitiesPerAgent) {
      agent.oversized = true;
      return;
    }
    if (!agent.oversized) agent.capabilities[this.#capabilityCount++] = capability as CapabilityProjection;
  }

  #finishAgent(): void {
    const draft = this.#agent!;
    this.#agent = null;
    this.#expectedAgent = null;
    // An indexed loop: a for…of with destructuring allocated an iterator, its results and an entry
    // per agent while TurboFan is off (see json-stream.ts #startValue).
    for (let index = 0; index < REQUIRED_AGENT_FIELDS.length; index++) {
      const required = REQUIRED_AGENT_FIELDS[index]!;
      if (draft[required.field] === null) throw this.#badAgent(draft.index, `field "${required.key}" is missing, not a string`);
    }
    draft.capabilities = cutTo(draft.capabilities, draft.oversized ? 0 : this.#capabilityCount);
    const agent = draft as RawAgent;
    if (this.#onAgent !== null) this.#onAgent(agent);
    else this.#agents!.push(agent);
  }

  /** A kept key may appear once: two values for one field is not a registry answer, and which one a parser takes is a choice an attacker could exploit. */
  #once(seen: number, bit: number, key: string): number {
    if ((seen & bit) !== 0) throw new RegistryFormatError('DUPLICATE_KEY', `GET /agents entry #${this.#agent?.index ?? '?'} has the key "${key}" twice`);
    return seen | bit;
  }

  #keep(value: string): string {
    this.#keptBytes += value.length + KEPT_VALUE_OVERHEAD;
    if (this.#keptBytes > this.#limits.maxProjectionBytes) {
      throw new RegistryFormatError('PROJECTION_TOO_LARGE', `GET /agents keeps more than ${this.#limits.maxProjectionBytes} bytes of agent data`);
    }
    return value;
  }

  #badAgent(index: number, problem: string): RegistryFormatError {
    return new RegistryFormatError('BAD_AGENT', `GET /agents entry #${index} ${problem}`);
  }

  #badCapability(problem: string): RegistryFormatError {
    return new RegistryFormatError('BAD_CAPABILITY', `GET /agents entry #${this.#agent?.index ?? '?'}: ${problem}`);
  }
}

/** Whole-buffer convenience (tests, snapshot-sized inputs). */
export function readAgentsBody(bytes: Uint8Array, limits: AgentsBodyLimits = DEFAULT_AGENTS_BODY_LIMITS): AgentsBody {
  const reader = new AgentsBodyReader(limits);
  reader.write(bytes);
  return reader.end();
}

const NO_ITEMS: never[] = Object.freeze([]) as never[];

/**
 * `list` holding its first `count` items: cut to that length, or one shared frozen empty list for
 * none (so a reused list keeps its elements for the next agent; see #capabilityCount).
 */
function cutTo<T>(list: T[], count: number): T[] {
  if (count === 0) return NO_ITEMS;
  if (list.length !== count) list.length = count;
  return list;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  return `a ${typeof value}`;
}
