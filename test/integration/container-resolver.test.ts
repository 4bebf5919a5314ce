// mesh-dns inside a container network, with the container runtime's resolver as its upstream
// (issue 7 item 1), rebuilt with the same kernel mechanisms the runtimes use:
//
// - Docker: the container's resolv.conf says `nameserver 127.0.0.11`; iptables in the
//   container's namespace DNATs 127.0.0.11:53 to the embedded resolver's real port. mesh-dns
//   listens on 0.0.0.0:53 in that namespace, yet packets to 127.0.0.11:53 never reach it. Here:
//   a network namespace, the same DNAT rule, knot on 127.0.0.11:5300 as Docker's resolver.
// - podman: resolv.conf names the network gateway, where aardvark-dns answers from the host's
//   namespace. Here: knot on 10.89.0.1:53 in a second namespace, joined by a veth pair.
//
// Both from resolv.conf and from MESH_DNS_UPSTREAMS, --check first (it must report the same
// upstreams that start-up uses), then a query that only the runtime's resolver can answer. And
// the loop that the wildcard listener does make: upstream 127.0.0.1:53, which reaches our own
// 0.0.0.0:53 socket, caught by the loop probe (it is not judged from the address any more).
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXAMPLE_TEST_ZONE, knotConfig } from '../support/knot.ts';
import { MAIN, NODE_BINARY, REPO_ROOT } from '../support/mesh-dns.ts';
import { namespaceUnavailable, runInNetworkNamespace, sections } from '../support/namespace.ts';
import { reportSkip } from '../support/tools.ts';

const CONTAINER_CONFIG = join(REPO_ROOT, 'config/container.yaml');
const unavailable = namespaceUnavailable(['iptables', 'knotd', 'knotc', 'dig', 'curl']);
if (unavailable) reportSkip('container-resolver tests', unavailable);

const DOCKER_RESOLVER_PORT = 5300;

function script(dir: string): string {
  const mesh = `env -i PATH="$PATH" MCP_MESH_REGISTRY_URL= MESH_DNS_SNAPSHOT_PATH= "$@" ${NODE_BINARY} ${MAIN} --config ${CONTAINER_CONFIG}`;
  return `
    set -u
    ip link set lo up
    waitzone() { # control socket
      for i in $(seq 1 100); do knotc -s "$1" zone-status example.test 2>/dev/null | grep -q 'serial: [0-9]' && return; sleep 0.1; done
    }

    # Docker's embedded resolver: 127.0.0.11:53, DNATed in this namespace to the real port.
    for proto in udp tcp; do
      iptables -t nat -A OUTPUT -d 127.0.0.11/32 -p $proto --dport 53 -j DNAT --to-destination 127.0.0.11:${DOCKER_RESOLVER_PORT}
    done
    knotd -c ${dir}/docker/knot.conf > ${dir}/docker/knotd.log 2>&1 &
    waitzone ${dir}/docker/knot.sock

    # podman's gateway resolver: another namespace (the host's), reached over a veth pair.
    unshare --net sh -c 'while ! ip link show gw0 >/dev/null 2>&1; do sleep 0.05; done
      ip link set lo up; ip addr add 10.89.0.1/24 dev gw0; ip link set gw0 up
      exec knotd -c ${dir}/podman/knot.conf > ${dir}/podman/knotd.log 2>&1' &
    gateway=$!
    sleep 0.2
    ip link add eth0 type veth peer name gw0 netns $gateway
    ip addr add 10.89.0.5/24 dev eth0 && ip link set eth0 up
    waitzone ${dir}/podman/knot.sock

    run() { # label, then the environment of mesh-dns
      what=$1; shift
      echo "== $what check"
      ${mesh} --check 2>&1; echo "exit $?"
      ${mesh} > ${dir}/$what.log 2>&1 &
      pid=$!
      for i in $(seq 1 100); do curl -s -o /dev/null --max-time 1 http://127.0.0.1:9153/health && break; kill -0 $pid 2>/dev/null || break; sleep 0.1; done
      # The loop probe round: a looping upstream shows at once, an honest one by its silence.
      for i in $(seq 1 20); do grep -q 'FORWARDING LOOP' ${dir}/$what.log && break; sleep 0.05; done
      echo "== $what answer"
      dig +time=3 +tries=1 @127.0.0.1 -p 53 www.example.test A | grep -E 'status:|^www'
      echo "== $what metrics"
      curl -s http://127.0.0.1:9153/metrics | grep -E '^meshdns_forward_loops_detected_total'
      kill -TERM $pid; wait $pid
      echo "== $what exit"
      echo "$?"
      echo "== $what log"
      cat ${dir}/$what.log
    }
    run docker-resolv-conf MESH_DNS_RESOLV_CONF=${dir}/docker/resolv.conf
    run docker-env MESH_DNS_UPSTREAMS=127.0.0.11
    run podman-resolv-conf MESH_DNS_RESOLV_CONF=${dir}/podman/resolv.conf
    run podman-env MESH_DNS_UPSTREAMS=10.89.0.1
    run loop MESH_DNS_UPSTREAMS=127.0.0.1
    kill $gateway
  `;
}

describe.skipIf(unavailable !== null)('upstream = the container runtime\'s resolver; mesh-dns on 0.0.0.0:53', () => {
  let dir = '';
  let out: Map<string, string>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mesh-dns-runtime-resolver-'));
    for (const [runtime, host, port] of [['docker', '127.0.0.11', DOCKER_RESOLVER_PORT], ['podman', '10.89.0.1', 53]] as const) {
      const runtimeDir = join(dir, runtime);
      await mkdir(runtimeDir);
      await writeFile(join(runtimeDir, 'knot.conf'), knotConfig(runtimeDir, port, [EXAMPLE_TEST_ZONE], host));
      await writeFile(join(runtimeDir, `${EXAMPLE_TEST_ZONE.origin}.zone`), `$ORIGIN ${EXAMPLE_TEST_ZONE.origin}.\n${EXAMPLE_TEST_ZONE.text}`);
      await writeFile(join(runtimeDir, 'resolv.conf'), `# as ${runtime} writes it into a container\nnameserver ${host}\noptions ndots:0\n`);
    }
    const stdout = await runInNetworkNamespace(script(dir), 120_000);
    if (process.env.SHOW_NETNS_OUTPUT) console.log(stdout);
    out = sections(stdout);
  }, 150_000);
  afterAll(async () => {
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  it.each([
    ['docker-resolv-conf', '127.0.0.11:53', 'docker/resolv.conf'],
    ['docker-env', '127.0.0.11:53', 'environment variable MESH_DNS_UPSTREAMS'],
    ['podman-resolv-conf', '10.89.0.1:53', 'podman/resolv.conf'],
    ['podman-env', '10.89.0.1:53', 'environment variable MESH_DNS_UPSTREAMS'],
  ])('%s: --check names %s as the upstream, and a query resolves through it', (run, upstream, from) => {
    const fromText = from.includes('/') ? `${join(dir, from)}, named by environment variable MESH_DNS_RESOLV_CONF` : from;
    expect(out.get(`${run} check`)).toBe([
      `config OK: ${CONTAINER_CONFIG}`,
      `upstreams: ${upstream} (from ${fromText})`,
      'loop probe: each upstream is probed at start; one that sends the probe back to mesh-dns is taken out of rotation',
      'exit 0',
    ].join('\n'));
    const answer = out.get(`${run} answer`) ?? '';
    expect(answer).toMatch(/status: NOERROR/);
    expect(answer).toMatch(/^www\.example\.test\.\s+\d+\s+IN\s+A\s+192\.0\.2\.1$/m);
    expect(out.get(`${run} metrics`)).toBe('meshdns_forward_loops_detected_total 0');
    expect(out.get(`${run} exit`)).toBe('0');
    const log = out.get(`${run} log`) ?? '';
    expect(log).toContain(`"upstreams":["${upstream}"]`);
    expect(log).not.toMatch(/mesh-dns itself|FORWARDING LOOP|no usable nameserver/);
  });

  it('a real loop, upstream 127.0.0.1:53 next to our 0.0.0.0:53: not refused by address, caught by the probe', () => {
    expect(out.get('loop check')).toMatch(/^config OK: .*\nupstreams: 127\.0\.0\.1:53 \(from environment variable MESH_DNS_UPSTREAMS\)\n.*\nexit 0$/);
    const log = (out.get('loop log') ?? '').split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(log.filter((line) => String(line.msg).startsWith('FORWARDING LOOP'))).toEqual([expect.objectContaining({ level: 50, upstream: '127.0.0.1:53' })]);
    expect(out.get('loop metrics')).toBe('meshdns_forward_loops_detected_total 1');
    // The only upstream is out of rotation: the client gets an answer at once, not the internet.
    expect(out.get('loop answer')).toMatch(/status: SERVFAIL/);
    expect(out.get('loop exit')).toBe('0');
  });
});
