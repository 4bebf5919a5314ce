import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { loadSnapshot, removeStaleTempFiles, saveSnapshot } from '../../../src/registry/snapshot-store.ts';
import { NODE_BINARY } from '../../support/mesh-dns.ts';
import { skipWithout } from '../../support/tools.ts';

const run = promisify(execFile);
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
      skipped: [],
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
    expect(await loadSnapshot(join(dir, 'absent.json'))).toEqual({ snapshot: null, reason: 'no snapshot file', skipped: [] });
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
    expect(await loadSnapshot(path)).toEqual({ snapshot: null, reason, skipped: [] });
  });

  it.each([
    ['port out of range', { port: 70000 }, 'malformed'],
    ['port not a number', { port: '8080' }, 'malformed'],
    ['unknown scheme', { scheme: 'ftp' }, 'malformed'],
    ['unknown host kind', { hostKind: 'unix' }, 'malformed'],
    ['addresses with a number', { addresses: [1] }, 'malformed'],
    ['capability without tags', { capabilities: [{ name: 'c', version: '' }] }, 'malformed'],
    ['missing name', { name: undefined }, 'malformed'],
    ['an IPv4 address out of range', { addresses: ['999.1.1.1'] }, 'invalid_address'],
    ['an IPv6 address with bad hex', { addresses: ['fd00::zz'] }, 'invalid_address'],
    ['an octal-looking IPv4', { addresses: ['010.0.0.1'] }, 'invalid_address'],
    ['a loopback address', { addresses: ['127.0.0.1'] }, 'invalid_address'],
    ['a zone index', { addresses: ['fe80::1%eth0'] }, 'invalid_address'],
    ['a hostname as an address', { addresses: ['example.com'] }, 'invalid_address'],
    ['an ipv6 host that is not an address', { host: 'not an address' }, 'invalid_host'],
    ['an ipv6 host not spelled as parseEndpoint spells it', { host: 'fd00:0::12' }, 'invalid_host'],
    ['an ipv6 host in upper case', { host: 'FD00::12' }, 'invalid_host'],
    ['a junk hostname', { hostKind: 'hostname', host: 'not a host/../x' }, 'invalid_host'],
    ['a non-ASCII hostname', { hostKind: 'hostname', host: '\u212Aelvin.example' }, 'invalid_host'],
    ['a 5,000-character name', { name: 'n'.repeat(5000) }, 'oversized'],
    ['the id of another stored agent', { id: 'chat-11223344' }, 'duplicate_id'],
  ])('skips an agent with %s, counted, and loads the others', async (_label, override, reason) => {
    const path = join(dir, 'snap.json');
    const stored = { version: 1, savedAt: '2026-11-22T02:00:00.000Z', registryUrl: 'x', agents: [agents[0], { ...agents[1], ...override }] };
    await writeFile(path, JSON.stringify(stored));
    const loaded = await loadSnapshot(path);
    expect(loaded.snapshot?.agents).toEqual([agents[0]]);
    expect(loaded.skipped).toEqual([{ index: 1, id: expect.toSatisfy((id: unknown) => id === null || typeof id === 'string'), reason }]);
  });

  it('refuses a snapshot file over the size bound and one nested too deep, without parsing it', async () => {
    const path = join(dir, 'snap.json');
    await writeFile(path, `{"version":1,"x":${'['.repeat(100_000)}`);
    expect((await loadSnapshot(path)).reason).toBe('snapshot file nests too deep');
    expect((await loadSnapshot(path, 1000)).reason).toBe('snapshot file is larger than 1000 bytes');
  });

  it('removes stale temp files of its own snapshot at start, and nothing else', async () => {
    const path = join(dir, 'snap.json');
    await saveSnapshot(path, 'http://r:8000', agents, new Date(0));
    await writeFile(join(dir, '.snap.json.4242.deadbeef.tmp'), '{"version":1,"agen');
    await writeFile(join(dir, '.snap.json.1.00000000.tmp'), '');
    await writeFile(join(dir, '.other.json.1.00000000.tmp'), '');
    await writeFile(join(dir, 'notes.tmp'), '');
    expect(await removeStaleTempFiles(path)).toBe(2);
    expect((await readdir(dir)).sort()).toEqual(['.other.json.1.00000000.tmp', 'notes.tmp', 'snap.json']);
    expect(await removeStaleTempFiles(join(dir, 'absent', 'snap.json'))).toBe(0);
  });

  it.skipIf(skipWithout('strace', 'durable snapshot write trace'))('writes durably: fsync of the temp file before the rename, fsync of the directory after', async () => {
    const path = join(dir, 'snap.json');
    const script = `import { saveSnapshot } from ${JSON.stringify(new URL('../../../src/registry/snapshot-store.ts', import.meta.url).pathname)};
await saveSnapshot(${JSON.stringify(path)}, 'http://r:8000', [], new Date(0));`;
    const { stderr } = await run('strace', ['-f', '-qq', '-e', 'trace=openat,fsync,fdatasync,rename,renameat,renameat2,close', NODE_BINARY, '--input-type=module', '-e', script]);
    // Keep only the calls on our files; map fds to names as the trace goes.
    const names = new Map<string, string>();
    const events: string[] = [];
    for (const line of stderr.split('\n')) {
      const open = /openat\(AT_FDCWD, "([^"]+)", [^)]*\) = (\d+)/.exec(line);
      if (open && open[1]!.startsWith(dir)) {
        names.set(open[2]!, open[1] === dir ? 'dir' : open[1]!.endsWith('.tmp') ? 'temp' : 'other');
        events.push(`open ${names.get(open[2]!)}`);
      }
      const sync = /(?:fsync|fdatasync)\((\d+)\)\s+= 0/.exec(line);
      if (sync && names.has(sync[1]!)) events.push(`fsync ${names.get(sync[1]!)}`);
      if (/rename(?:at2?)?\(.*\.tmp".*snap\.json"/.test(line)) events.push('rename');
      const close = /close\((\d+)\)\s+= 0/.exec(line);
      if (close) names.delete(close[1]!);
    }
    expect(events).toEqual(['open temp', 'fsync temp', 'rename', 'open dir', 'fsync dir']);
  });

  it('writes 2,610 agents in slices (the last one partial), byte for byte what one JSON.stringify gives', async () => {
    const path = join(dir, 'snap.json');
    const many = Array.from({ length: 2610 }, (_, index) => ({ ...agents[0]!, id: `agent-${index}` }));
    await saveSnapshot(path, 'http://r:8000', many, new Date(0));
    expect(await readFile(path, 'utf8')).toBe(`${JSON.stringify({ version: 1, savedAt: new Date(0).toISOString(), registryUrl: 'http://r:8000', agents: many })}\n`);
    expect((await loadSnapshot(path)).snapshot?.agents).toHaveLength(2610);
  });

  it('writes plain JSON a person can read', async () => {
    const path = join(dir, 'snap.json');
    await saveSnapshot(path, 'http://r:8000', agents, new Date(0));
    const text = await readFile(path, 'utf8');
    expect(JSON.parse(text)).toMatchObject({ version: 1, registryUrl: 'http://r:8000' });
  });
});
