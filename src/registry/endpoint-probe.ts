// Optional TCP connect probe of each agent's advertised endpoint (issue 7 item 5).
//
// The seed's failure: an agent listens on `::` with IPV6_V6ONLY but advertises an IPv4 address, so
// every IPv4 client gets a connection refused that looks like a DNS problem. DNS must not guess:
// the agent's records are served unchanged, and the probe only makes the mismatch visible (one log
// line per agent change, a metric, /ready detail). Probes run when an agent appears or its
// endpoint or addresses change — never per poll — in the background, one round at a time, with
// bounded concurrency and a per-connect timeout, so a mesh of dead endpoints cannot slow the sync.
import { Socket } from 'node:net';
import type { Logger } from 'pino';
import { forEachLimited } from './hostnames.ts';
import type { AgentProjection } from './types.ts';

/** Bounded cause of a failed probe; a metric label value. */
export type ProbeFailureReason = 'refused' | 'timeout' | 'unreachable' | 'reset' | 'other';
export const PROBE_FAILURE_REASONS: readonly ProbeFailureReason[] = ['refused', 'timeout', 'unreachable', 'reset', 'other'];

/** Connects to host:port; resolves when the connection is accepted, rejects with the socket error. */
export type EndpointConnect = (host: string, port: number, timeoutMs: number) => Promise<void>;

export interface UnreachableEndpoint {
  id: string;
  /** `address:port` that did not accept (the first failing one of the agent's addresses). */
  target: string;
  reason: ProbeFailureReason;
  /** The system error code (ECONNREFUSED, EHOSTUNREACH, …) or ETIMEDOUT for our own timeout. */
  code: string;
}

export interface EndpointProbeState {
  enabled: true;
  /** Agents whose last probe failed. */
  unreachable: number;
  /** The first MAX_REPORTED of them by id: /ready stays small with thousands of agents. */
  first: UnreachableEndpoint[];
  /** Agents probed since start (each change counts once). */
  probed: number;
}

export interface EndpointProbeMetrics {
  /** Agents whose last probe failed. */
  setUnreachable(count: number): void;
  /** One failed probe of one agent, by reason. */
  countFailure(reason: ProbeFailureReason): void;
}

export interface EndpointProberOptions {
  timeoutMs: number;
  concurrency: number;
  logger: Logger;
  metrics: EndpointProbeMetrics;
  connect?: EndpointConnect;
}

export const DEFAULT_PROBE_CONCURRENCY = 16;
export const MAX_REPORTED_UNREACHABLE = 20;
/** At most this many addresses of one hostname agent are probed. */
const MAX_ADDRESSES_PER_AGENT = 4;

interface ProbeRecord {
  /** What was probed: a change of it means probe again. */
  key: string;
  failure: UnreachableEndpoint | null;
}

export class EndpointProber {
  readonly #options: EndpointProberOptions & { connect: EndpointConnect };
  readonly #log: Logger;
  /** Per agent id, the endpoint last probed and its outcome. Bounded by the projection's size. */
  #records = new Map<string, ProbeRecord>();
  #latest: readonly AgentProjection[] | null = null;
  #running: Promise<void> | null = null;
  #stopped = false;
  #probed = 0;

  constructor(options: EndpointProberOptions) {
    this.#options = { ...options, connect: options.connect ?? connectOnce };
    this.#log = options.logger.child({ component: 'endpoint-probe' });
  }

  /** Takes the projection now served; probes what changed in the background. */
  observe(agents: readonly AgentProjection[]): void {
    if (this.#stopped) return;
    this.#latest = agents;
    this.#running ??= this.#drain().finally(() => {
      this.#running = null;
    });
  }

  /** Resolves when no probe round is running (tests and stop use it). */
  async settled(): Promise<void> {
    while (this.#running !== null) await this.#running;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.settled();
  }

  state(): EndpointProbeState {
    const failures = [...this.#records.entries()].filter(([, record]) => record.failure !== null).map(([, record]) => record.failure!);
    failures.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return { enabled: true, unreachable: failures.length, first: failures.slice(0, MAX_REPORTED_UNREACHABLE), probed: this.#probed };
  }

  async #drain(): Promise<void> {
    // One round per distinct projection; projections that arrive during a round collapse into one.
    while (this.#latest !== null && !this.#stopped) {
      const agents = this.#latest;
      this.#latest = null;
      await this.#round(agents);
    }
  }

  async #round(agents: readonly AgentProjection[]): Promise<void> {
    const next = new Map<string, ProbeRecord>();
    const due: { agent: AgentProjection; key: string; previous: ProbeRecord | undefined }[] = [];
    for (const agent of agents) {
      const key = probeKey(agent);
      const known = this.#records.get(agent.id);
      if (known !== undefined && known.key === key) next.set(agent.id, known);
      else due.push({ agent, key, previous: known });
    }
    // Agents gone from the projection are forgotten (and leave the gauge) at once.
    this.#records = next;
    this.#options.metrics.setUnreachable(this.#unreachableCount());
    await forEachLimited(due, this.#options.concurrency, async ({ agent, key, previous }) => {
      if (this.#stopped) return;
      const failure = await this.#probe(agent);
      this.#probed += 1;
      this.#records.set(agent.id, { key, failure });
      if (failure !== null) {
        this.#options.metrics.countFailure(failure.reason);
        // Once per agent change: a steady unreachable agent is not probed (nor logged) again.
        this.#log.warn(
          { agent: agent.id, name: agent.name, target: failure.target, reason: failure.reason, code: failure.code },
          'agent endpoint does not accept connections; its records are still served',
        );
      } else if (previous?.failure) {
        this.#log.info({ agent: agent.id, target: targetsOf(agent)[0] ?? null }, 'agent endpoint accepts connections again');
      }
    });
    this.#options.metrics.setUnreachable(this.#unreachableCount());
  }

  async #probe(agent: AgentProjection): Promise<UnreachableEndpoint | null> {
    for (const address of targetsOf(agent)) {
      try {
        await this.#options.connect(address, agent.port, this.#options.timeoutMs);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? 'UNKNOWN';
        return { id: agent.id, target: formatTarget(address, agent.port), reason: probeFailureReason(code), code };
      }
    }
    return null;
  }

  #unreachableCount(): number {
    let count = 0;
    for (const record of this.#records.values()) if (record.failure !== null) count += 1;
    return count;
  }
}

/** The addresses published for an agent (for hostnames: what the resolver answered). */
function targetsOf(agent: AgentProjection): string[] {
  if (agent.hostKind !== 'hostname') return [agent.host];
  return agent.addresses.slice(0, MAX_ADDRESSES_PER_AGENT);
}

function probeKey(agent: AgentProjection): string {
  return `${agent.scheme}\u0000${agent.host}\u0000${agent.port}\u0000${agent.addresses.join(',')}`;
}

function formatTarget(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

export function probeFailureReason(code: string): ProbeFailureReason {
  switch (code) {
    case 'ECONNREFUSED':
      return 'refused';
    case 'ETIMEDOUT':
      return 'timeout';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EADDRNOTAVAIL':
      return 'unreachable';
    case 'ECONNRESET':
      return 'reset';
    default:
      return 'other';
  }
}

/** A plain TCP connect, closed as soon as it is accepted; nothing is sent. */
export const connectOnce: EndpointConnect = (host, port, timeoutMs) =>
  new Promise<void>((resolve, reject) => {
    const socket = new Socket();
    const timer = setTimeout(() => {
      socket.destroy();
      reject(Object.assign(new Error(`connect to ${formatTarget(host, port)} timed out after ${timeoutMs} ms`), { code: 'ETIMEDOUT' }));
    }, timeoutMs);
    timer.unref();
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve();
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    });
    socket.connect({ host, port });
  });
