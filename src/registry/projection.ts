// Turns a GET /agents body into the sorted list of agents DNS can publish.
//
// Validation policy: ONE malformed agent entry fails the whole poll (RegistryFormatError). The
// alternative, dropping the bad entry, would silently withdraw a live agent's records whenever the
// registry (or a proxy in front of it) sends something odd; failing the poll keeps the last good
// zone serving and shows up in poll_failures_total{reason="format"}. Optional fields follow one
// rule: missing or null → default, present with the wrong type → format error.
import { DEFAULT_AGENTS_BODY_LIMITS, readAgentsBody, type AgentsBody, type AgentsBodyLimits } from './agents-body.ts';
import { parseEndpoint } from './endpoint.ts';
import { RegistryFormatError } from './errors.ts';
import type { AgentProjection, CapabilityProjection, SkippedAgent } from './types.ts';

export interface ProjectionResult {
  /** Healthy agents with a usable endpoint, sorted by id. Hostname agents have `addresses: []`. */
  agents: AgentProjection[];
  /** Healthy agents left out, sorted by id. Unhealthy agents are omitted without being listed. */
  skipped: SkippedAgent[];
}

/** Projects a body already read by AgentsBodyReader (the streaming path the sync uses). */
/** `namespace`: the registry namespace the body was asked for (`?namespace=`), kept on each agent. */
export function projectAgentsBody(body: AgentsBody, namespace?: string): ProjectionResult {
  // `agents: null` is how the registry spells an empty list (reference §3.3, verified).
  if (body.agents === null) return { agents: [], skipped: [] };
  const agents: AgentProjection[] = [];
  const skipped: SkippedAgent[] = [];
  const seen = new Set<string>();
  for (const agent of body.agents) {
    // The registry keys agents by id; two rows with one id means the body is not from it. (Ids
    // that differ only in case are distinct here; the zone decides which one a DNS name serves.)
    if (seen.has(agent.id)) throw new RegistryFormatError('DUPLICATE_AGENT_ID', `agent id "${agent.id}" appears twice`);
    seen.add(agent.id);
    // Unhealthy rows linger until the retention sweep (1 h by default, reference §4.1); they are
    // normal, not worth a warning, so they are neither projected nor reported as skipped.
    if (agent.status !== 'healthy') continue;
    if (agent.oversized) {
      skipped.push({ id: agent.id, reason: 'oversized', endpoint: agent.endpoint });
      continue;
    }
    const endpoint = parseEndpoint(agent.endpoint);
    if (!endpoint.ok) {
      skipped.push({ id: agent.id, reason: endpoint.reason, endpoint: agent.endpoint });
      continue;
    }
    agents.push({
      id: agent.id,
      name: agent.name,
      status: agent.status,
      scheme: endpoint.scheme,
      host: endpoint.host,
      hostKind: endpoint.hostKind,
      port: endpoint.port,
      capabilities: agent.capabilities.map((capability) => ({ ...capability, tags: [...capability.tags].sort() })).sort(compareCapabilities),
      version: agent.version,
      runtime: agent.runtime,
      agentType: agent.agentType,
      addresses: endpoint.hostKind === 'hostname' ? [] : [endpoint.host],
      ...(namespace === undefined ? {} : { namespace }),
    });
  }
  agents.sort(byId);
  skipped.sort(byId);
  return { agents, skipped };
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
    a.namespace === b.namespace &&
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
