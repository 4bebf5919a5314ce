// scratch: a shipped mesh-dns with the real registry and N agents, held for inspection
import { shippedNodeFlags } from './servers.ts';
import { MAIN, REPO_ROOT, startMeshDnsProcess } from '../support/mesh-dns.ts';
import { startRegistry } from '../support/registry.ts';
import { queryA, registerMany, waitFor } from './registry-load.ts';
import { join } from 'node:path';
const N = Number(process.argv[2] ?? 10000);
const extra = (process.argv[3] ?? '').split(' ').filter(Boolean);
const flags = [...shippedNodeFlags(REPO_ROOT), ...extra];
const dist = join(REPO_ROOT, 'dist/main.js');
const registry = await startRegistry({ timeoutThreshold: 3600 });
const mesh = await startMeshDnsProcess({ wrap: (c) => ['sh', '-c', 'exec "$@" > /tmp/hold-out.txt 2>&1', '--', ...c.flatMap((p) => (p === MAIN ? [...flags, dist] : [p]))], env: { MCP_MESH_REGISTRY_URL: registry.url, MESH_DNS_LOG_LEVEL: 'warn', MCP_MESH_NETWORK_TIMEOUT: '10s' } });
await registerMany(registry, N, 0);
await waitFor(async () => (await queryA(mesh.dnsPort, `agent-${N - 1}.mesh.local`)).length === 1, 120_000);
console.log(`PID ${mesh.process.pid} HTTP ${mesh.httpUrl}`);
await new Promise((r) => setTimeout(r, Number(process.argv[4] ?? 900) * 1000));
await mesh.stop(); await registry.stop?.();
process.exit(0);
