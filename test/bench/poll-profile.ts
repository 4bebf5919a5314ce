/*
 * Where the main thread's time goes while a large registry is polled and nothing changes (issue 9
 * item 5: the static-name p99 during idle polls). The REAL registry with N agents on loopback,
 * mesh-dns as shipped (dist/main.js, bin/mesh-dns's flags) with --cpu-prof, polled for --seconds
 * after its zone holds every agent; then self time by function, as a share of the busy samples.
 *
 *   npm run build && npx node test/bench/poll-profile.ts --agents 10000 --seconds 60
 */

import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { shippedNodeFlags } from './servers.ts';
import { MAIN, REPO_ROOT, startMeshDnsProcess } from '../support/mesh-dns.ts';
import { stopAllProcesses } from '../support/processes.ts';
import { startRegistry } from '../support/registry.ts';
import { queryA, registerMany, waitFor } from './registry-load.ts';

const { values } = parseArgs({ options: { agents: { type: 'string', default: '10000' }, seconds: { type: 'string', default: '60' }, top: { type: 'string', default: '25' } } });
const count = Number(values.agents);
const profileDir = mkdtempSync(join(tmpdir(), 'mesh-dns-poll-profile-'));

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
}

/** The profile once Node has finished writing it (it is written at exit; read too early it is cut short). */
async function readProfile(): Promise<CpuProfile> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const file = readdirSync(profileDir).find((name) => name.endsWith('.cpuprofile'));
    if (file !== undefined) {
      const path = join(profileDir, file);
      const size = statSync(path).size;
      await sleep(200);
      if (statSync(path).size === size) {
        try {
          return JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
        } catch {
          // still being written
        }
      }
    }
    await sleep(200);
  }
  throw new Error(`no complete profile in ${profileDir}`);
}

try {
  const registry = await startRegistry();
  await registerMany(registry, count);
  const mesh = await startMeshDnsProcess({
    nodeFlags: [...shippedNodeFlags(REPO_ROOT), '--cpu-prof', `--cpu-prof-dir=${profileDir}`],
    env: { MCP_MESH_REGISTRY_URL: registry.url, MESH_DNS_REGISTRY_POLL_INTERVAL: '2s', MESH_DNS_LOG_LEVEL: 'warn' },
    wrap: (command) => command.map((part) => (part === MAIN ? join(REPO_ROOT, 'dist/main.js') : part)),
  });
  const last = `agent-${count - 1}.mesh.local`;
  await waitFor(async () => (await queryA(mesh.dnsPort, last)).length > 0, 120_000);
  console.log(`${count} agents served; polling for ${values.seconds} s`);
  await sleep(Number(values.seconds) * 1000);
  await mesh.stop();
  const profile = await readProfile();
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<string, number>();
  let busy = 0;
  for (const id of profile.samples) {
    const frame = byId.get(id)!.callFrame;
    if (frame.functionName === '(idle)' || frame.functionName === '(program)') continue;
    busy++;
    const key = `${frame.functionName || '(anonymous)'} ${frame.url.replace(/^.*\/(src|dist|node_modules)\//, '$1/')}:${frame.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + 1);
  }
  console.log(`${busy} busy samples of ${profile.samples.length}; self time, share of busy:`);
  for (const [key, samples] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top))) {
    console.log(`${((samples / busy) * 100).toFixed(1).padStart(5)}%  ${key}`);
  }
} finally {
  await stopAllProcesses();
}
