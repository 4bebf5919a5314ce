// Persists the last good projection so a restart while the registry is down still serves the mesh.
//
// Writes are atomic and durable: a temp file in the same directory (same filesystem, so rename(2)
// is atomic), fsync of the file, rename over the target, fsync of the directory so the rename
// itself survives a power cut (without it ext4/xfs may come back with the old name or none).
// A crash leaves either the old or the new file, never half of one, and at most a stale temp file,
// which removeStaleTempFiles deletes at start.
//
// Loading never throws, and one bad agent never costs the others: the file may be old, edited or
// corrupted, so every agent is checked (shape, bounds, every address and host) before it reaches
// the zone compiler, and a bad one is skipped with a bounded reason.
import { random } from '../runtime/random.ts';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import ipaddr from 'ipaddr.js';
import { DEFAULT_AGENTS_BODY_LIMITS } from './agents-body.ts';
import { addressSkipReason, normaliseHostname } from './endpoint.ts';
import { RegistryFormatError } from './errors.ts';
import { parseJsonBounded } from './json-stream.ts';
import type { AgentProjection, CapabilityProjection, StoredSnapshot } from './types.ts';

/** Why a stored agent is not loaded; bounded (a metric label). */
export type SnapshotSkipReason = 'malformed' | 'invalid_address' | 'invalid_host' | 'oversized' | 'duplicate_id';
export const SNAPSHOT_SKIP_REASONS: readonly SnapshotSkipReason[] = ['malformed', 'invalid_address', 'invalid_host', 'oversized', 'duplicate_id'];

export interface SnapshotSkip {
  index: number;
  /** The stored id when it is a string (cut to 64 characters), for the log line. */
  id: string | null;
  reason: SnapshotSkipReason;
}

export type SnapshotLoadResult =
  | { snapshot: StoredSnapshot; reason: null; skipped: SnapshotSkip[] }
  | { snapshot: null; reason: string; skipped: SnapshotSkip[] };

/** The same bound as a GET /agents body: a snapshot holds at most what a poll may keep. */
export const MAX_SNAPSHOT_BYTES = 64 * 1024 * 1024;

// 250 agents (~190 KB of JSON) per turn. At 1,000 each slice held the event loop for ~3 ms at
// 10,000 agents, ten times per registry change, and the 750 KB strings cost more in all (30 ms
// against 16 ms per write, in-process, --max-semi-space-size=1): issue 9 item 5.
const SNAPSHOT_WRITE_SLICE = 250;

export async function saveSnapshot(path: string, registryUrl: string, agents: readonly AgentProjection[], now: Date): Promise<void> {
  const stored: StoredSnapshot = { version: 1, savedAt: now.toISOString(), registryUrl, agents: [...agents] };
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const temp = join(dir, `${tempPrefix(path)}${process.pid}.${random.hex(4)}.tmp`);
  try {
    const file = await open(temp, 'wx', 0o644);
    try {
      // The same bytes as JSON.stringify(stored), written SNAPSHOT_WRITE_SLICE agents at a time:
      // one stringify of 20,000 agents held the event loop for 50+ ms on every registry change.
      const head = JSON.stringify({ ...stored, agents: [] });
      await file.write(head.slice(0, -2)); // ends in '"agents":['
      for (let start = 0; start < stored.agents.length; start += SNAPSHOT_WRITE_SLICE) {
        const slice = stored.agents.slice(start, start + SNAPSHOT_WRITE_SLICE).map((agent) => JSON.stringify(agent)).join(',');
        await file.write(start === 0 ? slice : `,${slice}`);
      }
      await file.write(']}\n');
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  await syncDirectory(dir);
}

/** fsync(2) of a directory makes a rename in it durable (POSIX leaves it to the directory). */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } catch (error) {
    // Some filesystems (and some FUSE mounts) refuse fsync on a directory; the rename is done.
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'ENOTSUP' && code !== 'EISDIR') throw error;
  } finally {
    await handle.close();
  }
}

function tempPrefix(path: string): string {
  return `.${basename(path)}.`;
}

/**
 * Deletes temp files a crashed write left next to the snapshot (`.<name>.<pid>.<hex>.tmp`).
 * Returns how many; a missing directory is zero. Run once at start, before any write.
 */
export async function removeStaleTempFiles(path: string): Promise<number> {
  const dir = dirname(path);
  const prefix = tempPrefix(path);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
  const stale = names.filter((name) => name.startsWith(prefix) && name.endsWith('.tmp'));
  await Promise.all(stale.map((name) => rm(join(dir, name), { force: true })));
  return stale.length;
}

export async function loadSnapshot(path: string, maxBytes = MAX_SNAPSHOT_BYTES): Promise<SnapshotLoadResult> {
  const fail = (reason: string): SnapshotLoadResult => ({ snapshot: null, reason, skipped: [] });
  let text: Buffer;
  try {
    const info = await stat(path);
    if (info.size > maxBytes) return fail(`snapshot file is larger than ${maxBytes} bytes`);
    text = await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return fail(code === 'ENOENT' ? 'no snapshot file' : `cannot read snapshot: ${code ?? String(error)}`);
  }
  let parsed: unknown;
  try {
    parsed = parseJsonBounded(text, { maxDepth: DEFAULT_AGENTS_BODY_LIMITS.maxDepth, maxStringBytes: DEFAULT_AGENTS_BODY_LIMITS.maxStringBytes });
  } catch (error) {
    if (error instanceof RegistryFormatError && error.code === 'TOO_DEEP') return fail('snapshot file nests too deep');
    return fail('snapshot file is not JSON');
  }
  const problem = snapshotProblem(parsed);
  if (problem !== null) return fail(problem);
  const stored = parsed as StoredSnapshot;
  const { agents, skipped } = validStoredAgents(stored.agents as unknown[]);
  return { snapshot: { ...stored, agents }, reason: null, skipped };
}

/** Pure validation of a parsed snapshot file's envelope; null when it is a version-1 snapshot. */
export function snapshotProblem(value: unknown): string | null {
  if (!isObject(value)) return 'snapshot is not an object';
  if (value['version'] !== 1) return `unsupported snapshot version ${JSON.stringify(value['version'])}`;
  if (typeof value['savedAt'] !== 'string' || Number.isNaN(Date.parse(value['savedAt']))) return 'snapshot savedAt is not a date';
  if (typeof value['registryUrl'] !== 'string') return 'snapshot registryUrl is not a string';
  if (!Array.isArray(value['agents'])) return 'snapshot agents is not a list';
  return null;
}

/** Pure: the stored agents that may reach the zone compiler, and why each other one may not. */
export function validStoredAgents(stored: readonly unknown[]): { agents: AgentProjection[]; skipped: SnapshotSkip[] } {
  const agents: AgentProjection[] = [];
  const skipped: SnapshotSkip[] = [];
  const ids = new Set<string>();
  const limits = DEFAULT_AGENTS_BODY_LIMITS;
  stored.slice(0, limits.maxAgents).forEach((value, index) => {
    const reason = storedAgentProblem(value, ids);
    if (reason === null) {
      const agent = value as AgentProjection;
      ids.add(agent.id);
      agents.push(agent);
    } else {
      const id = isObject(value) && typeof value['id'] === 'string' ? value['id'].slice(0, 64) : null;
      skipped.push({ index, id, reason });
    }
  });
  for (let index = limits.maxAgents; index < stored.length; index++) skipped.push({ index, id: null, reason: 'oversized' });
  return { agents, skipped };
}

function storedAgentProblem(value: unknown, ids: ReadonlySet<string>): SnapshotSkipReason | null {
  if (!isAgentProjection(value)) return 'malformed';
  const limits = DEFAULT_AGENTS_BODY_LIMITS;
  const strings = [value.id, value.name, value.status, value.host, value.version, value.runtime, value.agentType, value.namespace ?? '', ...value.capabilities.flatMap((cap) => [cap.name, cap.version, ...cap.tags])];
  if (
    strings.some((text) => Buffer.byteLength(text) > limits.maxStringBytes) ||
    value.capabilities.length > limits.maxCapabilitiesPerAgent ||
    value.capabilities.some((cap) => cap.tags.length > limits.maxTagsPerCapability) ||
    value.addresses.length > limits.maxCapabilitiesPerAgent
  ) {
    return 'oversized';
  }
  if (ids.has(value.id)) return 'duplicate_id';
  if (!validHost(value)) return 'invalid_host';
  if (!value.addresses.every(publishableAddress)) return 'invalid_address';
  return null;
}

/**
 * The host must be what parseEndpoint would have produced for its kind, spelled as it spells it:
 * an agent whose registry endpoint is that spelling is kept as the stored object without being
 * parsed again (isServedEndpoint), so a stored `FD00:0::12` would otherwise outlive the restart.
 */
function validHost(agent: AgentProjection): boolean {
  switch (agent.hostKind) {
    case 'ipv4':
    case 'ipv6':
      return publishableAddress(agent.host) && (agent.hostKind === 'ipv4') === ipaddr.IPv4.isValidFourPartDecimal(agent.host) && ipaddr.parse(agent.host).toString() === agent.host;
    case 'hostname':
      return normaliseHostname(agent.host) === agent.host;
  }
}

/** A strict dotted quad or an IPv6 literal without zone, that other hosts can reach. */
function publishableAddress(address: string): boolean {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  if (ipaddr.IPv4.isValidFourPartDecimal(address)) parsed = ipaddr.IPv4.parse(address);
  else if (address.includes(':') && !address.includes('%') && ipaddr.IPv6.isValid(address)) parsed = ipaddr.IPv6.parse(address);
  else return false;
  return addressSkipReason(parsed) === null;
}

const STRING_FIELDS = ['id', 'name', 'status', 'host', 'version', 'runtime', 'agentType'] as const;

function isAgentProjection(value: unknown): value is AgentProjection {
  if (!isObject(value)) return false;
  return (
    STRING_FIELDS.every((key) => typeof value[key] === 'string') &&
    (value['scheme'] === 'http' || value['scheme'] === 'https') &&
    (value['hostKind'] === 'ipv4' || value['hostKind'] === 'ipv6' || value['hostKind'] === 'hostname') &&
    Number.isInteger(value['port']) &&
    (value['port'] as number) >= 1 &&
    (value['port'] as number) <= 65535 &&
    isStringList(value['addresses']) &&
    (value['namespace'] === undefined || typeof value['namespace'] === 'string') &&
    Array.isArray(value['capabilities']) &&
    value['capabilities'].every(isCapability)
  );
}

function isCapability(value: unknown): value is CapabilityProjection {
  return isObject(value) && typeof value['name'] === 'string' && typeof value['version'] === 'string' && isStringList(value['tags']);
}

function isStringList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item: unknown) => typeof item === 'string');
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
