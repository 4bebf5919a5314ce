// The snapshot directory as a container sees a bind mount owned by another uid: mesh-dns (the
// real CLI) runs as uid 65534 through setpriv, its snapshot directory belongs to root (0755), the
// registry is the real binary. Before, every poll retried the write and logged a stack trace
// (43,000 lines a day, issue 6 item 12); /ready said nothing. Now: one warning naming the owner,
// /ready and a metric say why, DNS keeps answering, and the write succeeds once the directory is
// handed over (chown), with one line saying so.

import { chmod, chown, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { addressesOf, dig } from '../support/dig.ts';
import { eventually, startMeshDnsProcess } from '../support/mesh-dns.ts';
import { stopAllProcesses } from '../support/processes.ts';
import { agentBody, startRegistry } from '../support/registry.ts';
import { skipUnless } from '../support/tools.ts';

const NOBODY = 65534;
// Root and setpriv run mesh-dns as another uid.
const UNAVAILABLE = skipUnless('snapshot directory of another owner', ['setpriv', 'dig'], { root: 'the test runs mesh-dns as another uid with setpriv' });

describe.skipIf(UNAVAILABLE)('snapshot directory owned by another uid (bind mount)', () => {
  afterAll(stopAllProcesses);

  it('warns once with the owner, says so in /ready and a metric, keeps serving, and recovers after chown', async () => {
    const registry = await startRegistry();
    await registry.heartbeat(agentBody('weather-a1b2c3d4', 'weather', '10.0.0.11', 8081));
    const dir = await mkdtemp(join(tmpdir(), 'mesh-dns-foreign-'));
    await chmod(dir, 0o755); // readable (the config file), not writable, by uid 65534
    try {
      const mesh = await startMeshDnsProcess({
        dir,
        env: { MCP_MESH_REGISTRY_URL: registry.url, MESH_DNS_REGISTRY_POLL_INTERVAL: '200ms', MESH_DNS_REGISTRY_EVENTS_HINT_INTERVAL: '0', MESH_DNS_SNAPSHOT_INTERVAL: '200ms' },
        wrap: (command) => ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', ...command],
      });
      const metric = async (pattern: RegExp) => Number(pattern.exec(await (await fetch(`${mesh.httpUrl}/metrics`)).text())?.[1] ?? 'NaN');
      // The unsaved snapshot is retried once per snapshot interval (200 ms here): wait for ten failed writes.
      await eventually(async () => (await metric(/meshdns_registry_snapshot_writes_total\{result="failure"\} (\d+)/)) >= 10, 15_000, 100);
      expect(addressesOf(await dig('127.0.0.1', mesh.dnsPort, 'weather.mesh.local'))).toEqual(['10.0.0.11']);
      const ready = (await (await fetch(`${mesh.httpUrl}/ready`)).json()) as { ready: boolean; registry: { snapshot: { writeFailing: boolean; writeError: string; unsaved: boolean; savedAt: number | null } } };
      expect(ready.ready).toBe(true);
      expect(ready.registry.snapshot.writeFailing).toBe(true);
      expect(ready.registry.snapshot).toMatchObject({ unsaved: true, savedAt: null });
      expect(ready.registry.snapshot.writeError).toMatch(new RegExp(`EACCES.*directory ${dir} is owned by uid 0 gid 0 mode 755; mesh-dns runs as uid ${NOBODY}`));
      expect(await metric(/^meshdns_registry_snapshot_write_failing (\d+)$/m)).toBe(1);
      const lines = () => mesh.process.output().split('\n').filter((line) => line.includes('snapshot file'));
      expect(lines().filter((line) => line.includes('cannot write registry snapshot file'))).toHaveLength(1);
      expect(mesh.process.output()).not.toMatch(/"stack"/);

      await chown(dir, NOBODY, NOBODY);
      await eventually(async () => (await metric(/^meshdns_registry_snapshot_write_failing (\d+)$/m)) === 0, 5000, 100);
      expect(JSON.parse(await readFile(join(dir, 'snapshot.json'), 'utf8'))).toMatchObject({ version: 1, agents: [expect.objectContaining({ id: 'weather-a1b2c3d4' })] });
      expect(lines().filter((line) => line.includes('registry snapshot file written again'))).toHaveLength(1);
      await mesh.stop();
    } finally {
      await registry.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
