// Runs the REAL MCP Mesh registry binary (npm @mcpmesh/cli-linux-x64) on 127.0.0.1 with a fresh
// SQLite file, for integration tests. Env names and defaults: shared reference §1, §4.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino, { type Logger } from 'pino';
import type { Registry } from 'prom-client';
import { freePort, startProcess, type StartedProcess } from './processes.ts';

export const REGISTRY_BINARY = fileURLToPath(
  new URL('../../node_modules/@mcpmesh/cli-linux-x64/bin/mcp-mesh-registry', import.meta.url),
);

export interface RegistryOptions {
  /** HEALTH_CHECK_INTERVAL, seconds (registry default 10). */
  healthCheckInterval?: number;
  /** DEFAULT_TIMEOUT_THRESHOLD, seconds without heartbeat before `unhealthy` (default 20). */
  timeoutThreshold?: number;
  /** MCP_MESH_RETENTION, Go duration such as '15s' (default 1h). */
  retention?: string;
  /** MCP_MESH_SWEEP_INTERVAL, Go duration (default 5m). */
  sweepInterval?: string;
}

export interface CapabilitySpec {
  capability: string;
  version?: string;
  tags?: string[];
}

/** A `MeshAgentRegistration` (reference §3.1), as the SDKs send it. */
export interface HeartbeatBody {
  agent_id: string;
  name: string;
  agent_type: 'mcp_agent' | 'api' | 'a2a';
  runtime: 'python' | 'typescript' | 'java';
  version: string;
  http_host: string;
  http_port: number;
  namespace: string;
  tools: { function_name: string; capability: string; version?: string; tags?: string[] }[];
}

export interface TestRegistry {
  url: string;
  port: number;
  process: StartedProcess;
  /** POST /heartbeat; throws unless HTTP 200 AND `status: "success"` (errors come as 200 + status error). */
  heartbeat(body: HeartbeatBody): Promise<Record<string, unknown>>;
  /** HEAD /heartbeat/{id}, the SDK's keep-alive; returns the HTTP status (200, 202, 410). */
  ping(agentId: string): Promise<number>;
  /** DELETE /agents/{id}: marks the agent unhealthy (it stays listed, reference §3.5). */
  deregister(agentId: string): Promise<void>;
  /** Raw GET /agents body. */
  agents(): Promise<{ agents: Record<string, unknown>[] | null; count: number }>;
  /** Stops the process (SIGTERM then SIGKILL) and removes its database. Idempotent. */
  stop(): Promise<void>;
}

const START_ATTEMPTS = 3;

export async function startRegistry(options: RegistryOptions = {}): Promise<TestRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'mesh-dns-registry-'));
  let lastError: unknown;
  // freePort can lose a race with another process; a bind failure makes the binary exit at once.
  for (let attempt = 0; attempt < START_ATTEMPTS; attempt++) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    try {
      const child = await startProcess({
        name: `mcp-mesh-registry:${port}`,
        command: REGISTRY_BINARY,
        cwd: dir,
        env: registryEnv(dir, port, options),
        ready: { url: `${url}/health` },
      });
      return testRegistry(url, port, child, dir);
    } catch (error) {
      lastError = error;
    }
  }
  await rm(dir, { recursive: true, force: true });
  throw lastError;
}

function registryEnv(dir: string, port: number, options: RegistryOptions): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: dir,
    HOST: '127.0.0.1',
    PORT: String(port),
    // A plain path is accepted as a SQLite database (the binary logs "Initializing database: <path>").
    DATABASE_URL: join(dir, 'registry.db'),
    MCP_MESH_TLS_MODE: 'off',
  };
  if (options.healthCheckInterval !== undefined) env['HEALTH_CHECK_INTERVAL'] = String(options.healthCheckInterval);
  if (options.timeoutThreshold !== undefined) env['DEFAULT_TIMEOUT_THRESHOLD'] = String(options.timeoutThreshold);
  if (options.retention !== undefined) env['MCP_MESH_RETENTION'] = options.retention;
  if (options.sweepInterval !== undefined) env['MCP_MESH_SWEEP_INTERVAL'] = options.sweepInterval;
  return env;
}

function testRegistry(url: string, port: number, child: StartedProcess, dir: string): TestRegistry {
  // However the process ends (stop(), stopAllProcesses(), a crash), its database goes with it.
  const removed = child.exited.then(() => rm(dir, { recursive: true, force: true }));
  let stopping: Promise<void> | null = null;
  return {
    url,
    port,
    process: child,
    async heartbeat(body) {
      const response = await fetch(`${url}/heartbeat`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const answer = (await response.json()) as Record<string, unknown>;
      if (response.status !== 200 || answer['status'] !== 'success') {
        throw new Error(`heartbeat ${body.agent_id} rejected: HTTP ${response.status} ${JSON.stringify(answer)}`);
      }
      return answer;
    },
    async ping(agentId) {
      const response = await fetch(`${url}/heartbeat/${encodeURIComponent(agentId)}`, { method: 'HEAD' });
      return response.status;
    },
    async deregister(agentId) {
      const response = await fetch(`${url}/agents/${encodeURIComponent(agentId)}`, { method: 'DELETE' });
      await response.body?.cancel();
      if (response.status !== 204) throw new Error(`DELETE /agents/${agentId}: HTTP ${response.status}`);
    },
    async agents() {
      const response = await fetch(`${url}/agents`);
      if (!response.ok) throw new Error(`GET /agents: HTTP ${response.status}`);
      return (await response.json()) as { agents: Record<string, unknown>[] | null; count: number };
    },
    stop() {
      stopping ??= child.stop().then(() => removed);
      return stopping;
    },
  };
}

/** A realistic heartbeat body; host '' and port 0 give a `stdio://<id>` endpoint. */
export function agentBody(id: string, name: string, host: string, port: number, capabilities: CapabilitySpec[] = []): HeartbeatBody {
  return {
    agent_id: id,
    name,
    agent_type: 'mcp_agent',
    runtime: 'python',
    version: '1.0.0',
    http_host: host,
    http_port: port,
    namespace: 'default',
    tools: capabilities.map((cap) => ({
      function_name: `fn_${cap.capability.replace(/[^a-z0-9_]/gi, '_')}`,
      capability: cap.capability,
      ...(cap.version === undefined ? {} : { version: cap.version }),
      ...(cap.tags === undefined ? {} : { tags: cap.tags }),
    })),
  };
}

/**
 * One `AgentInfo` of a GET /agents body, with every key the binary emits (reference §3.3 and the
 * §10 transcript), for unit tests and fake servers that must look like the real thing.
 */
export function agentInfo(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    a2a_consumer: false,
    a2a_producer: false,
    agent_type: 'mcp_agent',
    capabilities: [
      {
        available: true,
        description: 'Forecast for a city',
        function_name: 'get_forecast',
        name: 'weather_forecast',
        tags: ['weather', 'prod'],
        version: '1.2.0',
      },
    ],
    created_at: '2026-11-22T01:50:42.364270058Z',
    dependencies_resolved: 0,
    dependency_resolutions: null,
    description: 'Weather forecasts',
    endpoint: 'http://10.0.0.11:8081',
    id: 'weather-a1b2c3d4',
    last_seen: '2026-11-22T01:50:42.362273405Z',
    llm_provider_resolutions: null,
    llm_tool_resolutions: null,
    name: 'weather',
    runtime: 'python',
    status: 'healthy',
    total_dependencies: 0,
    version: '1.2.0',
    ...overrides,
  };
}

/** A GET /agents body (`AgentsListResponse`); no agents → `agents: null`, as the binary sends. */
export function agentsBody(agents: Record<string, unknown>[]): Record<string, unknown> {
  return { agents: agents.length === 0 ? null : agents, count: agents.length, timestamp: '2026-11-22T01:50:44.581132066Z' };
}

// Observing a sync under test: its log lines and its metrics.

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** A pino logger whose lines land in `lines`, parsed. */
export function captureLogger(): { logger: Logger; lines: LogLine[]; warnings: () => LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line) as LogLine) });
  return { logger, lines, warnings: () => lines.filter((line) => line.level === 40) };
}

/** Value of one series of a metric in a prom-client registry (undefined when absent). */
export async function metricValue(register: Registry, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const metric = register.getSingleMetric(name);
  if (metric === undefined) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  const series = values.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val) && Object.keys(v.labels).length === Object.keys(labels).length);
  return series?.value;
}
