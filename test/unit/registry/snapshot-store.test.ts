import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadSnapshot, saveSnapshot, snapshotProblem } from '../../../src/registry/snapshot-store.ts';
import type { AgentProjection } from '../../../src/registry/types.ts';

const agents: AgentProjection[] = [
  {
    id: 'chat-11223344',
    name: 'chat',
    status: 'healthy',
    scheme: 'https',
    host: 'chat.internal.example',
    hostKind: 'hostname',
    port: 7000,
    capabilities: [{ name: 'chat', version: '1.0.0', tags: ['llm'] }],
    version: '0.9.0',
    runtime: 'java',
    agentType: 'mcp_agent',
    addresses: ['10.1.0.7', 'fd00::7'],
  },
  {
    id: 'geo-0c1d2e3f',
    name: 'geo',
    status: 'healthy',
    scheme: 'http',
    host: 'fd00::12',
    hostKind: 'ipv6',
    port: 9090,
    capabilities: [],
    version: '',
    runtime: 'typescript',
    agentType: 'mcp_agent',
    addresses: ['fd00::12'],
  },
];

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mesh-dns-snapshot-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('snapshot store', () => {
  it('round-trips a snapshot through a directory it creates', async () => {
    const path = join(dir, 'state', 'nested', 'registry-snapshot.json');
    await saveSnapshot(path, 'http://127.0.0.1:8000', agents, new Date('2026-11-22T02:00:00.000Z'));
    expect(await loadSnapshot(path)).toEqual({
      snapshot: { version: 1, savedAt: '2026-11-22T02:00:00.000Z', registryUrl: 'http://127.0.0.1:8000', agents },
      reason: null,
    });
  });

  it('replaces an existing file and leaves no temp files behind', async () => {
    const path = join(dir, 'snap.json');
    await saveSnapshot(path, 'http://r:8000', agents, new Date(0));
    await saveSnapshot(path, 'http://r:8000', agents.slice(1), new Date(1000));
    expect(await readdir(dir)).toEqual(['snap.json']);
    const loaded = await loadSnapshot(path);
    expect(loaded.snapshot?.agents.map((a) => a.id)).toEqual(['geo-0c1d2e3f']);
    expect(loaded.snapshot?.savedAt).toBe('1970-01-01T00:00:01.000Z');
  });

  it('removes its temp file when the rename fails, and leaves other files alone', async () => {
    const path = join(dir, 'snap.json');
    await saveSnapshot(path, 'http://r:8000', agents, new Date(0));
    // rename(2) of a file over a directory fails (EISDIR) for every user, root included.
    const blocked = join(dir, 'is-a-dir');
    await saveSnapshot(join(blocked, 'inner.json'), 'http://r:8000', agents, new Date(0));
    await expect(saveSnapshot(blocked, 'http://r:8000', [], new Date(0))).rejects.toThrow(/EISDIR/);
    expect((await readdir(dir)).sort()).toEqual(['is-a-dir', 'snap.json']);
    expect((await loadSnapshot(path)).snapshot?.agents).toEqual(agents);
  });

  it('reports a missing file without throwing', async () => {
    expect(await loadSnapshot(join(dir, 'absent.json'))).toEqual({ snapshot: null, reason: 'no snapshot file' });
  });

  it('reports an unreadable path (a directory) without throwing', async () => {
    const result = await loadSnapshot(dir);
    expect(result.snapshot).toBeNull();
    expect(result.reason).toBe('cannot read snapshot: EISDIR');
  });

  it.each([
    ['truncated JSON', '{"version":1,"savedAt":"2026-11-22T02:00:00.000Z","agents":[', 'snapshot file is not JSON'],
    ['empty file', '', 'snapshot file is not JSON'],
    ['a list', '[]', 'snapshot is not an object'],
    ['another version', '{"version":2}', 'unsupported snapshot version 2'],
    ['a bad date', '{"version":1,"savedAt":"yesterday","registryUrl":"x","agents":[]}', 'snapshot savedAt is not a date'],
    ['no registryUrl', '{"version":1,"savedAt":"2026-11-22T02:00:00.000Z","agents":[]}', 'snapshot registryUrl is not a string'],
    ['agents not a list', '{"version":1,"savedAt":"2026-11-22T02:00:00.000Z","registryUrl":"x","agents":{}}', 'snapshot agents is not a list'],
  ])('rejects %s with a reason', async (_label, text, reason) => {
    const path = join(dir, 'snap.json');
    await writeFile(path, text);
    expect(await loadSnapshot(path)).toEqual({ snapshot: null, reason });
  });

  it.each([
    ['port out of range', { port: 70000 }],
    ['port not a number', { port: '8080' }],
    ['unknown scheme', { scheme: 'ftp' }],
    ['unknown host kind', { hostKind: 'unix' }],
    ['addresses with a number', { addresses: [1] }],
    ['capability without tags', { capabilities: [{ name: 'c', version: '' }] }],
    ['missing name', { name: undefined }],
  ])('rejects an agent with %s', (_label, override) => {
    const stored = { version: 1, savedAt: '2026-11-22T02:00:00.000Z', registryUrl: 'x', agents: [agents[0], { ...agents[1], ...override }] };
    expect(snapshotProblem(JSON.parse(JSON.stringify(stored)))).toBe('snapshot agent #1 is malformed');
  });

  it('writes plain JSON a person can read', async () => {
    const path = join(dir, 'snap.json');
    await saveSnapshot(path, 'http://r:8000', agents, new Date(0));
    const text = await readFile(path, 'utf8');
    expect(JSON.parse(text)).toMatchObject({ version: 1, registryUrl: 'http://r:8000' });
  });
});
