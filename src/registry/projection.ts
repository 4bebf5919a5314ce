// Turns a GET /agents body into the sorted list of agents DNS can publish.
//
// Validation policy: ONE malformed agent entry fails the whole poll (RegistryFormatError). The
// alternative, dropping the bad entry, would silently withdraw a live agent's records whenever the
// registry (or a proxy in front of it) sends something odd; failing the poll keeps the last good
// zone serving and shows up in poll_failures_total{reason="format"}. Optional fields follow one
// rule: missing or null → default, present with the wrong type → format error.
import { parseEndpoint } from './endpoint.ts';
import { RegistryFormatError } from './errors.ts';
import type { AgentProjection, CapabilityProjection, SkippedAgent } from './types.ts';

export interface ProjectionResult {
  /** Healthy agents with a usable endpoint, sorted by id. Hostname agents have `addresses: []`. */
  agents: AgentProjection[];
  /** Healthy agents left out, sorted by id. Unhealthy agents are omitted without being listed. */
  skipped: SkippedAgent[];
}

type JsonObject = Record<string, unknown>;

export function projectAgents(body: unknown): ProjectionResult {
  if (!isObject(body)) throw new RegistryFormatError('NOT_AN_OBJECT', 'GET /agents body is not a JSON object');
  const list = body['agents'];
  // `agents: null` is how the registry spells an empty list (reference §3.3, verified).
  if (list === null) return { agents: [], skipped: [] };
  if (!Array.isArray(list)) {
    throw new RegistryFormatError('AGENTS_NOT_A_LIST', `GET /agents "agents" is ${describe(list)}, not a list or null`);
  }

  const agents: AgentProjection[] = [];
  const skipped: SkippedAgent[] = [];
  const seen = new Set<string>();
  list.forEach((entry: unknown, index: number) => {
    const agent = readAgent(entry, index);
    // The registry keys agents by id; two rows with one id means the body is not from it.
    if (seen.has(agent.id)) throw new RegistryFormatError('DUPLICATE_AGENT_ID', `agent id "${agent.id}" appears twice`);
    seen.add(agent.id);
    // Unhealthy rows linger until the retention sweep (1 h by default, reference §4.1); they are
    // normal, not worth a warning, so they are neither projected nor reported as skipped.
    if (agent.status !== 'healthy') return;
    const endpoint = parseEndpoint(agent.endpoint);
    if (!endpoint.ok) {
      skipped.push({ id: agent.id, reason: endpoint.reason, endpoint: agent.endpoint });
      return;
    }
    agents.push({
      id: agent.id,
      name: agent.name,
      status: agent.status,
      scheme: endpoint.scheme,
      host: endpoint.host,
      hostKind: endpoint.hostKind,
      port: endpoint.port,
      capabilities: agent.capabilities,
      version: agent.version,
      runtime: agent.runtime,
      agentType: agent.agentType,
      addresses: endpoint.hostKind === 'hostname' ? [] : [endpoint.host],
    });
  });
  agents.sort(byId);
  skipped.sort(byId);
  return { agents, skipped };
}

interface RawAgent {
  id: string;
  name: string;
  status: string;
  endpoint: string;
  version: string;
  runtime: string;
  agentType: string;
  capabilities: CapabilityProjection[];
}

function readAgent(entry: unknown, index: number): RawAgent {
  if (!isObject(entry)) throw badAgent(index, `is ${describe(entry)}, not an object`);
  const required = (key: string): string => {
    const value = entry[key];
    if (typeof value !== 'string') throw badAgent(index, `field "${key}" is ${describe(value)}, not a string`);
    return value;
  };
  const optional = (key: string): string => {
    const value = entry[key];
    if (value === undefined || value === null) return '';
    if (typeof value !== 'string') throw badAgent(index, `field "${key}" is ${describe(value)}, not a string`);
    return value;
  };
  const id = required('id');
  return {
    id,
    name: required('name'),
    status: required('status'),
    endpoint: required('endpoint'),
    version: optional('version'),
    runtime: optional('runtime'),
    agentType: optional('agent_type'),
    capabilities: readCapabilities(entry['capabilities'], id),
  };
}

function readCapabilities(value: unknown, agentId: string): CapabilityProjection[] {
  // `capabilities: null` for api agents and after a POST without `tools` (reference §3.1, §9 pitfall 12).
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw badCapability(agentId, `"capabilities" is ${describe(value)}, not a list`);
  return value.map((entry: unknown) => readCapability(entry, agentId)).sort(compareCapabilities);
}

function readCapability(entry: unknown, agentId: string): CapabilityProjection {
  if (!isObject(entry)) throw badCapability(agentId, `a capability is ${describe(entry)}, not an object`);
  const name = entry['name'];
  if (typeof name !== 'string') throw badCapability(agentId, `a capability name is ${describe(name)}, not a string`);
  const version = entry['version'] ?? '';
  if (typeof version !== 'string') throw badCapability(agentId, `capability "${name}" version is ${describe(version)}`);
  const tags = entry['tags'] ?? [];
  if (!Array.isArray(tags) || !tags.every((tag: unknown) => typeof tag === 'string')) {
    throw badCapability(agentId, `capability "${name}" tags are not a list of strings`);
  }
  return { name, version, tags: [...(tags as string[])].sort() };
}

/** Deep equality of two id-sorted projections: the sync's "did the zone change" test. */
export function sameAgents(a: readonly AgentProjection[], b: readonly AgentProjection[]): boolean {
  return a.length === b.length && a.every((agent, i) => sameAgent(agent, b[i]));
}

function sameAgent(a: AgentProjection, b: AgentProjection | undefined): boolean {
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
    sameStrings(a.addresses, b.addresses) &&
    a.capabilities.length === b.capabilities.length &&
    a.capabilities.every((cap, i) => sameCapability(cap, b.capabilities[i]))
  );
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

/** Sort order of agents and skips everywhere in the sync. */
export function byId(a: { id: string }, b: { id: string }): number {
  return compareStrings(a.id, b.id);
}

function compareCapabilities(a: CapabilityProjection, b: CapabilityProjection): number {
  // One agent may expose a capability through two functions; version then tags keep the order total.
  return compareStrings(a.name, b.name) || compareStrings(a.version, b.version) || compareStrings(a.tags.join(','), b.tags.join(','));
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function badAgent(index: number, problem: string): RegistryFormatError {
  return new RegistryFormatError('BAD_AGENT', `GET /agents entry #${index} ${problem}`);
}

function badCapability(agentId: string, problem: string): RegistryFormatError {
  return new RegistryFormatError('BAD_CAPABILITY', `agent "${agentId}": ${problem}`);
}
