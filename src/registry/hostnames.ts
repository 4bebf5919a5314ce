// Fills `addresses` for agents whose endpoint host is a hostname (Helm Service names, compose
// service names; reference §7), through the system resolver like any client of the agent would.
//
// Each distinct hostname is looked up once per poll: Helm replicas all advertise the same Service
// name, so N replicas must not cost N lookups. Lookups run with bounded concurrency (getaddrinfo
// runs on libuv's small thread pool) and a per-lookup timeout, since a slow resolver must not hold
// the whole poll. When a lookup fails, the addresses from the previous projection are kept, so a
// resolver hiccup does not withdraw a live agent.
import { lookup as systemLookup } from 'node:dns/promises';
import ipaddr from 'ipaddr.js';
import { addressSkipReason } from './endpoint.ts';
import type { AgentProjection, HostnameLookup, LookupAddress, SkipReason, SkippedAgent } from './types.ts';

export interface HostnameResolutionOptions {
  lookup: HostnameLookup;
  timeoutMs: number;
  concurrency: number;
}

export interface HostnameResolution {
  /** The input agents, in input order, minus the skipped ones, with hostname addresses filled. */
  agents: AgentProjection[];
  skipped: SkippedAgent[];
  /** Hostnames whose lookup failed this time (addresses kept from `previous` or the agents skipped). */
  failedHostnames: string[];
}

export const DEFAULT_LOOKUP_CONCURRENCY = 16;

export const systemHostnameLookup: HostnameLookup = (hostname) => systemLookup(hostname, { all: true });

/** `failed`: the lookup itself failed (the addresses, if any, are the previous ones). */
export type HostAnswer = { ok: true; addresses: string[]; failed: boolean } | { ok: false; reason: SkipReason; failed: boolean };

export async function resolveHostnameAgents(
  agents: readonly AgentProjection[],
  previous: readonly AgentProjection[],
  options: HostnameResolutionOptions,
): Promise<HostnameResolution> {
  const hostnames = [...new Set(agents.filter((a) => a.hostKind === 'hostname').map((a) => a.host))];
  // No hostname endpoints (the usual registry): the list itself, which after a poll where nothing
  // changed is the served one (AgentsProjector.finish), so that the sync compares nothing and no
  // list of every agent is built per poll.
  if (hostnames.length === 0) return { agents: agents as AgentProjection[], skipped: [], failedHostnames: [] };
  const answers = new Map<string, HostAnswer>();
  const kept = previousAddressesByHostname(previous);
  await forEachLimited(hostnames, options.concurrency, async (hostname) => {
    answers.set(hostname, await resolveOne(hostname, kept.get(hostname), options));
  });

  const resolved: AgentProjection[] = [];
  const skipped: SkippedAgent[] = [];
  for (const agent of agents) {
    const answer = agent.hostKind === 'hostname' ? answers.get(agent.host) : undefined;
    if (answer === undefined) resolved.push(agent);
    else if (answer.ok) resolved.push({ ...agent, addresses: answer.addresses });
    else skipped.push({ id: agent.id, reason: answer.reason, endpoint: `${agent.scheme}://${agent.host}:${agent.port}` });
  }
  const failedHostnames = hostnames.filter((hostname) => answers.get(hostname)?.failed === true).sort();
  return { agents: resolved, skipped, failedHostnames };
}

async function resolveOne(hostname: string, previous: string[] | undefined, options: HostnameResolutionOptions): Promise<HostAnswer> {
  let answer: HostAnswer;
  try {
    answer = publishable(await withTimeout(options.lookup(hostname), options.timeoutMs));
  } catch {
    answer = { ok: false, reason: 'unresolvable_hostname', failed: true };
  }
  // A failed lookup (error, timeout, empty answer) falls back on what was known before.
  if (answer.failed && previous !== undefined && previous.length > 0) return { ok: true, addresses: previous, failed: true };
  return answer;
}

/** Normalised, deduplicated, sorted addresses, minus those other hosts cannot reach. */
export function publishable(answers: readonly LookupAddress[]): HostAnswer {
  const addresses = new Set<string>();
  let dropped: SkipReason | null = null;
  for (const answer of answers) {
    if (!ipaddr.isValid(answer.address)) continue;
    const address = ipaddr.parse(answer.address);
    const reason = addressSkipReason(address);
    if (reason === null) addresses.add(address.toString());
    else dropped ??= reason;
  }
  if (addresses.size > 0) return { ok: true, addresses: [...addresses].sort(), failed: false };
  // e.g. a compose name mapped to 127.0.1.1 in /etc/hosts: it resolved, to something unroutable.
  return dropped === null ? { ok: false, reason: 'unresolvable_hostname', failed: true } : { ok: false, reason: dropped, failed: false };
}

function previousAddressesByHostname(previous: readonly AgentProjection[]): Map<string, string[]> {
  const byHostname = new Map<string, string[]>();
  for (const agent of previous) {
    if (agent.hostKind === 'hostname' && agent.addresses.length > 0) byHostname.set(agent.host, agent.addresses);
  }
  return byHostname;
}

/** Runs `work` over `items` with at most `limit` running at once. */
export async function forEachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
}

function withTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    // getaddrinfo cannot be cancelled; the lookup finishes in the background and is ignored.
    const timer = setTimeout(() => reject(new Error(`lookup timed out after ${timeoutMs} ms`)), timeoutMs);
    timer.unref();
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
