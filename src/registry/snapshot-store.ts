// Persists the last good projection so a restart while the registry is down still serves the mesh.
//
// Writes are atomic: a temp file in the same directory (same filesystem, so rename(2) is atomic)
// then a rename over the target; a crash leaves either the old or the new file, never half of one.
// Loading never throws: a missing or corrupt file just means "start without a snapshot".
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { AgentProjection, CapabilityProjection, StoredSnapshot } from './types.ts';

export type SnapshotLoadResult = { snapshot: StoredSnapshot; reason: null } | { snapshot: null; reason: string };

export async function saveSnapshot(path: string, registryUrl: string, agents: readonly AgentProjection[], now: Date): Promise<void> {
  const stored: StoredSnapshot = { version: 1, savedAt: now.toISOString(), registryUrl, agents: [...agents] };
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const temp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(temp, `${JSON.stringify(stored)}\n`, { mode: 0o644 });
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

export async function loadSnapshot(path: string): Promise<SnapshotLoadResult> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { snapshot: null, reason: code === 'ENOENT' ? 'no snapshot file' : `cannot read snapshot: ${code ?? String(error)}` };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { snapshot: null, reason: 'snapshot file is not JSON' };
  }
  const problem = snapshotProblem(parsed);
  return problem === null ? { snapshot: parsed as StoredSnapshot, reason: null } : { snapshot: null, reason: problem };
}

/** Pure validation of a parsed snapshot file; null when it is a valid version-1 snapshot. */
export function snapshotProblem(value: unknown): string | null {
  if (!isObject(value)) return 'snapshot is not an object';
  if (value['version'] !== 1) return `unsupported snapshot version ${JSON.stringify(value['version'])}`;
  if (typeof value['savedAt'] !== 'string' || Number.isNaN(Date.parse(value['savedAt']))) return 'snapshot savedAt is not a date';
  if (typeof value['registryUrl'] !== 'string') return 'snapshot registryUrl is not a string';
  const agents = value['agents'];
  if (!Array.isArray(agents)) return 'snapshot agents is not a list';
  const bad = agents.findIndex((agent: unknown) => !isAgentProjection(agent));
  if (bad >= 0) return `snapshot agent #${bad} is malformed`;
  return null;
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
