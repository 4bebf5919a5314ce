// Turns a GET /agents body into the sorted list of agents DNS can publish.
//
// Validation policy: ONE malformed agent entry fails the whole poll (RegistryFormatError). The
// alternative, dropping the bad entry, would silently withdraw a live agent's records whenever the
// registry (or a proxy in front of it) sends something odd; failing the poll keeps the last good
// zone serving and shows up in poll_failures_total{reason="format"}. Optional fields follow one
// rule: missing or null → default, present with the wrong type → format error.
import { DEFAULT_AGENTS_BODY_LIMITS, readAgentsBody, type AgentsBody, type AgentsBodyLimits, type ExpectedAgent, type RawAgent } from './agents-body.ts';
import { isServedEndpoint, parseEndpoint } from './endpoint.ts';
import { RegistryFormatError } from './errors.ts';
import { StringInterner } from '../zone/string-interner.ts';
import type { AgentProjection, CapabilityProjection, SkippedAgent } from './types.ts';

export interface ProjectionResult {
  /** Healthy agents with a usable endpoint, sorted by id. Hostname agents have `addresses: []`. */
  agents: AgentProjection[];
  /** Healthy agents left out, sorted by id. Unhealthy agents are omitted without being listed. */
  skipped: SkippedAgent[];
}

/**
 * Projects a whole body already read by AgentsBodyReader (tests, fixtures). The sync feeds an
 * AgentsProjector agent by agent as the body arrives instead (sync.ts). `namespace`: the registry
 * namespace the body was asked for (`?namespace=`), kept on each agent.
 */
export function projectAgentsBody(body: AgentsBody, namespace?: string): ProjectionResult {
  const projector = new AgentsProjector(namespace);
  for (const agent of body.agents ?? []) projector.add(agent);
  return projector.finish();
}

/**
 * Values that repeat across agents (status, version, runtime, type, capability names, versions and
 * tags) are kept once: 10,000 agents of a few kinds otherwise hold 10,000 copies of each. Shared by
 * every poll, so a projection's strings are the served one's; bounded (string-interner.ts).
 */
const sharedValues = new StringInterner(4096);
const EMPTY_TAGS: string[] = [];
/** Capabilities are shared whole (name, version, tags): 10,000 agents of a kind list the same few. Never mutated. */
const sharedCapabilities = new StringInterner<CapabilityProjection>(4096);

/**
 * Whole capability lists are shared as well: agents of a kind list the same capabilities, and a
 * list of its own cost each agent an array and its elements (~64 B, 0.6 MiB at 10,000 agents).
 * Never mutated (sorted before it is interned).
 */
const sharedCapabilityLists = new StringInterner<CapabilityProjection[]>(4096);
const NO_CAPABILITIES: CapabilityProjection[] = [];

/** A key naming one capability. Each string prefixed by its length: no separator character is safe, the registry's strings may hold any (a NUL-joined key let name "a\0b" + version "" equal name "a" + version "b\0"). */
function capabilityKey(name: string, version: string, tags: readonly string[]): string {
  let key = `${name.length}:${name}${version.length}:${version}${tags.length}:`;
  for (const tag of tags) key += `${tag.length}:${tag}`;
  return key;
}

/** One capability as every agent listing it holds it, with its key. */
function sharedCapability(capability: CapabilityProjection): { key: string; shared: CapabilityProjection } {
  const tags = capability.tags.length === 0 ? EMPTY_TAGS : capability.tags.map((tag) => sharedValues.intern(tag)).sort();
  const key = capabilityKey(capability.name, capability.version, tags);
  return { key, shared: sharedCapabilities.intern(key, { name: sharedValues.intern(capability.name), version: sharedValues.intern(capability.version), tags }) };
}

/** An agent's capabilities, sorted, as the list other agents with the same ones hold. */
function sharedCapabilityList(capabilities: readonly CapabilityProjection[]): CapabilityProjection[] {
  if (capabilities.length === 0) return NO_CAPABILITIES;
  const keyed = capabilities.map(sharedCapability).sort((a, b) => compareCapabilities(a.shared, b.shared));
  let key = '';
  for (const capability of keyed) key += capability.key;
  return sharedCapabilityLists.intern(key, keyed.map((capability) => capability.shared));
}

/** What an AgentsProjector reuses from the last poll of the same listing (the caller keeps one per listing). */
export interface ListingMemory {
  /** The agent each position of the last body was listed as, or null. */
  readonly bodyOrder: (AgentProjection | null)[];
  /** A byte per served agent, at least; only the first `served.length` are read. */
  servedMarks: Uint8Array;
}

export function newListingMemory(): ListingMemory {
  return { bodyOrder: [], servedMarks: new Uint8Array(0) };
}

/** `memory`'s marks with the first `count` cleared; grown (a quarter spare) when too short. */
function clearedMarks(memory: ListingMemory, count: number): Uint8Array {
  if (memory.servedMarks.length < count) memory.servedMarks = new Uint8Array(count + (count >> 2));
  else memory.servedMarks.fill(0, 0, count);
  return memory.servedMarks;
}

/** #servedMarks: a served agent listed in this body; listed and kept as the served object itself. */
const LISTED = 1;
const KEPT = 2;

/**
 * One body's agents, added one at a time (see projectAgentsBody for the rules). With `served`
 * (the projection served now, sorted by id), an agent equal to its served self is listed as that
 * object: the fresh copy dies young, and the served list, the zone and the next diff share one
 * object. Found by binary search: a Map of 20,000 ids built per poll took 3-12 ms at once.
 *
 * A poll in which nothing changed returns the served list itself: served agents are marked in a
 * byte per agent (which also finds an id listed twice) instead of being collected, so such a poll
 * builds no list and no Set of ids. Both lived through the whole poll, so every scavenge of it
 * copied them and they ended in the old generation: 0.6 MiB per poll at 10,000 agents.
 *
 * With `memory` (kept by the caller across polls, one per listing), the agent each position of
 * the body projected to, or null (unhealthy, skipped), is written to its bodyOrder as it is added,
 * over what that position held in the last body, which until then is what expectedAt() offers the
 * reader as the agent probably there; and the marks are its servedMarks, cleared. Both are reused
 * in place rather than made per poll: new ones live through the poll, are promoted and wait for a
 * mark-compact, 80 KB of heap and 10 KB of ArrayBuffer per poll at 10,000 agents.
 */
export class AgentsProjector {
  /** Agents to list besides the served ones kept as themselves. */
  readonly #agents: AgentProjection[] = [];
  readonly #skipped: SkippedAgent[] = [];
  /** Ids listed that are not served ones (those are marked in #servedMarks). */
  readonly #otherIds = new Set<string>();
  readonly #namespace: string | undefined;
  readonly #served: readonly AgentProjection[];
  /** Per served agent: 0, LISTED or KEPT. */
  readonly #servedMarks: Uint8Array;
  #servedKept = 0;
  readonly #bodyOrder: (AgentProjection | null)[] | null;
  /** Positions of this body added so far (the highest index + 1). */
  #positions = 0;

  constructor(namespace: string | undefined, served: readonly AgentProjection[] = [], memory?: ListingMemory) {
    this.#namespace = namespace;
    this.#served = served;
    this.#servedMarks = memory === undefined ? new Uint8Array(served.length) : clearedMarks(memory, served.length);
    this.#bodyOrder = memory?.bodyOrder ?? null;
  }

  /** The agent at position `index` of the last body (AgentsBodyReader's `expect`), or null. */
  readonly expectedAt = (index: number): ExpectedAgent | null => {
    const order = this.#bodyOrder;
    return order !== null && index < order.length ? order[index]! : null;
  };

  add(agent: RawAgent): void {
    const listed = this.#project(agent);
    this.#positions = agent.index + 1;
    if (this.#bodyOrder !== null) this.#bodyOrder[agent.index] = listed;
  }

  /** What `agent` is listed as: the served object, a new projection, or null (not listed: unhealthy, skipped). */
  #project(agent: RawAgent): AgentProjection | null {
    const namespace = this.#namespace;
    // The registry keys agents by id; two rows with one id means the body is not from it. (Ids
    // that differ only in case are distinct here; the zone decides which one a DNS name serves.)
    const servedIndex = indexById(this.#served, agent.id);
    if (servedIndex >= 0 ? this.#servedMarks[servedIndex] !== 0 : this.#otherIds.has(agent.id)) {
      throw new RegistryFormatError('DUPLICATE_AGENT_ID', `agent id "${agent.id}" appears twice`);
    }
    if (servedIndex >= 0) this.#servedMarks[servedIndex] = LISTED;
    else this.#otherIds.add(agent.id);
    // Unhealthy rows linger until the retention sweep (1 h by default, reference §4.1); they are
    // normal, not worth a warning, so they are neither projected nor reported as skipped.
    if (agent.status !== 'healthy') return null;
    if (agent.oversized) {
      this.#skipped.push({ id: agent.id, reason: 'oversized', endpoint: agent.endpoint });
      return null;
    }
    const served = servedIndex >= 0 ? this.#served[servedIndex]! : undefined;
    // The usual agent is the one served, unchanged: its endpoint is the served one spelled as the
    // registry spells it, so it is not parsed again (the regular expressions and ipaddr.js's
    // parser were 40% of the bytes a poll allocated: test/bench/poll-promotion.ts), and its other
    // fields are compared with the raw values, so no projection is built for it either.
    if (served !== undefined && served.hostKind !== 'hostname' && isServedEndpoint(agent.endpoint, served) && sameAsRaw(served, agent, served, namespace)) {
      return this.#keepServed(servedIndex);
    }
    const endpoint = parseEndpoint(agent.endpoint);
    if (!endpoint.ok) {
      this.#skipped.push({ id: agent.id, reason: endpoint.reason, endpoint: agent.endpoint });
      return null;
    }
    // An agent served under another spelling of its endpoint: compared field by field against the
    // raw values, so no projection is built for it. Building one per agent per poll cost more than
    // the garbage: V8 had seen every projection of the first poll survive and from then on
    // allocated them straight in the old generation (allocation-site pretenuring), ~3.7 MiB of
    // old-generation garbage per poll at 10,000 agents (test/bench/poll-promotion.ts).
    if (served !== undefined && endpoint.hostKind !== 'hostname' && sameAsRaw(served, agent, endpoint, namespace)) {
      return this.#keepServed(servedIndex);
    }
    const projected: AgentProjection = {
      id: agent.id,
      name: agent.name,
      status: sharedValues.intern(agent.status),
      scheme: endpoint.scheme,
      host: endpoint.host,
      hostKind: endpoint.hostKind,
      port: endpoint.port,
      capabilities: sharedCapabilityList(agent.capabilities),
      version: sharedValues.intern(agent.version),
      runtime: sharedValues.intern(agent.runtime),
      agentType: sharedValues.intern(agent.agentType),
      addresses: endpoint.hostKind === 'hostname' ? [] : [endpoint.host],
      ...(namespace === undefined ? {} : { namespace }),
    };
    if (served !== undefined && sameAgent(served, projected)) return this.#keepServed(servedIndex);
    this.#agents.push(projected);
    return projected;
  }

  #keepServed(index: number): AgentProjection {
    this.#servedMarks[index] = KEPT;
    this.#servedKept++;
    return this.#served[index]!;
  }

  /**
   * The agents sorted by id, and the skipped ones. When every served agent was kept as itself and
   * nothing else was listed, `agents` is the served list itself (the same array): the caller must
   * not modify it (diffAgentsSliced, the one that writes to its list, returns first on it).
   */
  finish(): ProjectionResult {
    // A shorter body than the last: positions past its end expect nothing (and hold no agent).
    if (this.#bodyOrder !== null && this.#bodyOrder.length > this.#positions) this.#bodyOrder.length = this.#positions;
    this.#skipped.sort(byId);
    const served = this.#served;
    if (this.#agents.length === 0 && this.#servedKept === served.length) return { agents: served as AgentProjection[], skipped: this.#skipped };
    const agents: AgentProjection[] = [];
    for (let index = 0; index < served.length; index++) if (this.#servedMarks[index] === KEPT) agents.push(served[index]!);
    for (const agent of this.#agents) agents.push(agent);
    agents.sort(byId);
    return { agents, skipped: this.#skipped };
  }
}

/**
 * A parsed GET /agents value (tests, fixtures): serialised and read through the same streaming
 * reader as a live body, so there is one validation path.
 */
export function projectAgents(body: unknown, limits: AgentsBodyLimits = DEFAULT_AGENTS_BODY_LIMITS): ProjectionResult {
  return projectAgentsBody(readAgentsBody(Buffer.from(JSON.stringify(body) ?? '', 'utf8'), limits));
}

/** Deep equality of two id-sorted projections: the sync's "did the zone change" test. */
export function sameAgents(a: readonly AgentProjection[], b: readonly AgentProjection[]): boolean {
  return a.length === b.length && a.every((agent, i) => sameAgent(agent, b[i]));
}

export function sameAgent(a: AgentProjection, b: AgentProjection | undefined): boolean {
  if (a === b) return true;
  return (
    b !== undefined &&
    a.id === b.id &&
    a.name === b.name &&
    a.status === b.status &&
    a.scheme === b.scheme &&
    a.host === b.host &&
    a.hostKind === b.hostKind &&
    a.port === b.port &&
    a.version === b.version &&
    a.runtime === b.runtime &&
    a.agentType === b.agentType &&
    a.namespace === b.namespace &&
    sameStrings(a.addresses, b.addresses) &&
    a.capabilities.length === b.capabilities.length &&
    a.capabilities.every((cap, i) => sameCapability(cap, b.capabilities[i]))
  );
}

/** Lists longer than this are compared through the projection instead (the order-free compare below is quadratic). */
const RAW_COMPARE_MAX = 16;

/**
 * Whether a raw agent of this poll projects to `served` (sameAgent of its projection), for a
 * literal-address endpoint, without building the projection: the same fields, capabilities and
 * their tags equal as multisets (the projection sorts both). False is always safe: the caller
 * then builds the projection and compares that.
 */
function sameAsRaw(served: AgentProjection, raw: RawAgent, endpoint: Pick<AgentProjection, 'scheme' | 'host' | 'hostKind' | 'port'>, namespace: string | undefined): boolean {
  return (
    served.name === raw.name &&
    served.status === raw.status &&
    served.scheme === endpoint.scheme &&
    served.host === endpoint.host &&
    served.hostKind === endpoint.hostKind &&
    served.port === endpoint.port &&
    served.version === raw.version &&
    served.runtime === raw.runtime &&
    served.agentType === raw.agentType &&
    served.namespace === namespace &&
    served.addresses.length === 1 &&
    served.addresses[0] === endpoint.host &&
    sameUnordered(served.capabilities, raw.capabilities, sameCapabilityUnordered)
  );
}

function sameCapabilityUnordered(a: CapabilityProjection, b: CapabilityProjection): boolean {
  return a.name === b.name && a.version === b.version && sameUnordered(a.tags, b.tags, sameString);
}

const sameString = (a: string, b: string): boolean => a === b;

/**
 * Equal as multisets: for each element of `a`, as many equal ones in `a` as in `b`; with equal
 * lengths that accounts for every element of `b` too.
 */
function sameUnordered<T>(a: readonly T[], b: readonly T[], equal: (x: T, y: T) => boolean): boolean {
  const length = a.length;
  if (length !== b.length || length > RAW_COMPARE_MAX) return false;
  // Indexed loops, not for…of: until the server is busy TurboFan is off (bin/mesh-dns), and the
  // interpreter's array iterator allocates a result object per step: with the registry's own
  // bodies (two capabilities per agent) these loops were 2.3 of the 6.0 MiB a 10,000-agent poll
  // allocated, and the iterators' `next` 2.7 more (test/bench/poll-promotion.ts --body).
  for (let i = 0; i < length; i++) {
    const value = a[i]!;
    let inA = 0;
    let inB = 0;
    for (let j = 0; j < length; j++) {
      if (equal(a[j]!, value)) inA++;
      if (equal(b[j]!, value)) inB++;
    }
    if (inA !== inB) return false;
  }
  return true;
}

function sameCapability(a: CapabilityProjection, b: CapabilityProjection | undefined): boolean {
  return b !== undefined && a.name === b.name && a.version === b.version && sameStrings(a.tags, b.tags);
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}

// Code-unit order, not localeCompare: stable across hosts and locales.
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The agent with `id` in a list sorted by byId, or undefined. */
export function findById(sorted: readonly AgentProjection[], id: string): AgentProjection | undefined {
  const index = indexById(sorted, id);
  return index < 0 ? undefined : sorted[index];
}

/** The index of the agent with `id` in a list sorted by byId, or -1. */
function indexById(sorted: readonly AgentProjection[], id: string): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    const candidate = sorted[middle]!.id;
    if (candidate === id) return middle;
    if (candidate < id) low = middle + 1;
    else high = middle;
  }
  return -1;
}

/** Sort order of agents and skips everywhere in the sync. */
export function byId(a: { id: string }, b: { id: string }): number {
  return compareStrings(a.id, b.id);
}

function compareCapabilities(a: CapabilityProjection, b: CapabilityProjection): number {
  // One agent may expose a capability through two functions; version then tags keep the order total.
  return compareStrings(a.name, b.name) || compareStrings(a.version, b.version) || compareStrings(a.tags.join(','), b.tags.join(','));
}
