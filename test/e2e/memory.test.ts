// A sidecar's memory (issue 9 item 4): the shipped program (tsc output, as dist/main.js ships),
// idle with the default config, measured against a bare Node process started by the same test
// on the same runtime, so the bound holds on any machine whatever Node's own floor is there.
// RSS of an idle process is steady to a few hundred KiB from run to run (npm run bench:memory
// prints several runs); the bound sits 4 MiB above what this code measures and 5 MiB below what
// main measured before (37 MiB above the floor: undici, yaml, prom-client's index, dns2's index).
//
// The second test names the modules that must not be resident in an idle server, so a regression
// says which import brought one back rather than only "RSS grew".

import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAIN, NODE_BINARY, REPO_ROOT, startMeshDnsProcess } from '../support/mesh-dns.ts';
import { stopAllProcesses } from '../support/processes.ts';

/** Idle mesh-dns may sit at most this far above a bare `node` process (main before: 37 MiB). */
const IDLE_ABOVE_BARE_NODE_MIB = 32;
const SETTLE_MS = 1500;
// Its own build directory inside the repo (node_modules resolves from there): never races a
// `npm run build` or a bench rewriting dist/.
const BUILD_DIR = join(REPO_ROOT, '.mesh-dns/memory-test-dist');
const SHIPPED_MAIN = join(BUILD_DIR, 'main.js');
const shipped = (command: string[]) => command.map((part) => (part === MAIN ? SHIPPED_MAIN : part));

function rssMiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;
}

async function bareNodeRssMiB(): Promise<number> {
  const child = spawn(NODE_BINARY, ['-e', 'setInterval(() => {}, 1 << 30)'], { stdio: 'ignore' });
  try {
    await sleep(SETTLE_MS);
    return rssMiB(child.pid!);
  } finally {
    child.kill('SIGKILL');
  }
}

beforeAll(() => {
  rmSync(BUILD_DIR, { recursive: true, force: true });
  execFileSync(join(REPO_ROOT, 'node_modules/.bin/tsc'), ['-p', join(REPO_ROOT, 'tsconfig.build.json'), '--outDir', BUILD_DIR, '--sourceMap', 'false']);
});

afterAll(async () => {
  await stopAllProcesses();
  rmSync(BUILD_DIR, { recursive: true, force: true });
});

describe('memory of an idle mesh-dns (the shipped build)', () => {
  it(`stays within ${IDLE_ABOVE_BARE_NODE_MIB} MiB of RSS above a bare node process on the same runtime`, async () => {
    const bare = await bareNodeRssMiB();
    const mesh = await startMeshDnsProcess({ wrap: shipped, env: { MESH_DNS_LOG_LEVEL: 'warn' } });
    await sleep(SETTLE_MS);
    const idle = rssMiB(mesh.process.pid);
    await mesh.stop();
    console.log(`bare node ${bare.toFixed(1)} MiB, mesh-dns idle ${idle.toFixed(1)} MiB (+${(idle - bare).toFixed(1)})`);
    expect(idle - bare).toBeLessThanOrEqual(IDLE_ABOVE_BARE_NODE_MIB);
  }, 60_000);

  it('keeps no start-only or unused module resident: no yaml, undici, TLS/HTTP2, prom-client index, dns2 index', async () => {
    const listFile = join(BUILD_DIR, 'loaded-modules.json');
    const probe = join(BUILD_DIR, 'module-probe.mjs');
    // Records every module loaded (ES imports and require alike; not mere require.resolve) and, on SIGUSR2, writes
    // them with Node's list of loaded builtins.
    writeFileSync(probe, [
      "import { registerHooks } from 'node:module';",
      "import { writeFileSync } from 'node:fs';",
      'const urls = new Set();',
      'registerHooks({ load(url, context, next) { urls.add(url); return next(url, context); } });',
      `process.on('SIGUSR2', () => writeFileSync(${JSON.stringify(listFile)}, JSON.stringify({ urls: [...urls], builtins: process.moduleLoadList })));`,
      '',
    ].join('\n'));
    const mesh = await startMeshDnsProcess({
      wrap: (command) => shipped(command).flatMap((part) => (part === SHIPPED_MAIN ? ['--import', probe, part] : [part])),
      env: { MESH_DNS_LOG_LEVEL: 'warn' },
    });
    process.kill(mesh.process.pid, 'SIGUSR2');
    let loaded: { urls: string[]; builtins: string[] } | null = null;
    for (let attempt = 0; attempt < 100 && !loaded; attempt++) {
      await sleep(50);
      try {
        loaded = JSON.parse(readFileSync(listFile, 'utf8')) as { urls: string[]; builtins: string[] };
      } catch {
        // not written yet
      }
    }
    await mesh.stop();
    expect(loaded, 'the probe wrote its list').not.toBeNull();
    const { urls, builtins } = loaded!;
    // The probe saw our own modules, so an empty list cannot pass.
    expect(urls.some((url) => url.endsWith('/server.js'))).toBe(true);
    expect(urls.filter((url) => /\/node_modules\/yaml\//.test(url)), 'yaml: the config is loaded in a child process').toEqual([]);
    expect(urls.filter((url) => /\/node_modules\/@opentelemetry\//.test(url)), "@opentelemetry/api: prom-client's CPU metric").toEqual([]);
    expect(urls.filter((url) => /\/node_modules\/prom-client\/(index\.js|lib\/pushgateway\.js|lib\/cluster\.js)$/.test(url))).toEqual([]);
    expect(urls.filter((url) => /\/node_modules\/dns2\/(index\.js|index\.mjs|server\/|client\/)/.test(url)), "dns2's servers and clients").toEqual([]);
    // (node:cluster is not in the list: Node loads it itself on the first listen.)
    const unwanted = ['NativeModule internal/deps/undici/undici', 'NativeModule http2', 'NativeModule tls', 'NativeModule https'];
    expect(builtins.filter((name) => unwanted.includes(name)), 'undici (ES import of node:http, fetch), TLS, HTTP/2').toEqual([]);
    expect(builtins).toContain('NativeModule http');
  }, 60_000);
});
