// Real stub resolvers against mesh-dns: glibc (getent, as every container's libc resolver does
// it, with search list and ndots) and Node's c-ares resolver.
//
// glibc cannot be pointed at a port other than 53, so that test runs mesh-dns and getent inside
// a network namespace of its own (loopback only) with a private /etc/resolv.conf.

import { Resolver } from 'node:dns/promises';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, MAIN, NODE_BINARY, startMeshDnsProcess, type MeshDnsProcess } from '../support/mesh-dns.ts';
import { namespaceUnavailable, runInNetworkNamespace } from '../support/namespace.ts';
import { stopAllProcesses } from '../support/processes.ts';
import { reportSkip } from '../support/tools.ts';


describe("Node's resolver (c-ares)", () => {
  let mesh: MeshDnsProcess;
  let resolver: Resolver;

  beforeAll(async () => {
    mesh = await startMeshDnsProcess({ configYaml: await readFile(DEFAULT_CONFIG, 'utf8') });
    resolver = new Resolver({ timeout: 2000, tries: 1 });
    resolver.setServers([`127.0.0.1:${mesh.dnsPort}`]);
  });
  afterAll(stopAllProcesses);

  it('resolves A, AAAA, SRV, TXT and CNAME from the demo config', async () => {
    expect((await resolver.resolve4('hello.mesh.local', { ttl: true })).map((record) => [record.address, record.ttl]).sort()).toEqual([
      ['192.0.2.10', 5],
      ['192.0.2.11', 5],
    ]);
    expect(await resolver.resolve6('hello.mesh.local')).toEqual(['2001:db8::10']);
    expect(await resolver.resolveSrv('_mcp._tcp.hello.mesh.local')).toMatchObject([{ name: 'hello.mesh.local', port: 8080, priority: 1, weight: 1 }]);
    expect(await resolver.resolveTxt('hello.mesh.local')).toEqual([['demo record from config/mesh-dns.yaml']]);
    expect(await resolver.resolveCname('www.mesh.local')).toEqual(['hello.mesh.local']);
  });

  it('reports NXDOMAIN as ENOTFOUND and NODATA as ENODATA', async () => {
    await expect(resolver.resolve4('nobody.mesh.local')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(resolver.resolveSrv('hello.mesh.local')).rejects.toMatchObject({ code: 'ENODATA' });
  });
});

const NAMESPACE_UNAVAILABLE = namespaceUnavailable(['getent']);
if (NAMESPACE_UNAVAILABLE) reportSkip('glibc resolver test', NAMESPACE_UNAVAILABLE);

describe.skipIf(NAMESPACE_UNAVAILABLE !== null)('glibc resolver (getent) in a network namespace', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mesh-dns-netns-'));
    await writeFile(join(dir, 'resolv.conf'), 'nameserver 127.0.0.1\nsearch mesh.local\noptions ndots:1 timeout:2 attempts:1\n');
    await writeFile(join(dir, 'hosts'), '127.0.0.1 localhost\n');
    // Inside: loopback up, our resolv.conf and hosts, mesh-dns on port 53, then the lookups.
    // Each getent prints its exit status so NXDOMAIN (status 2) is asserted, not assumed.
    const script = `
      set -u
      ip link set lo up
      # getaddrinfo's AI_ADDRCONFIG skips a family the host has no non-loopback address for, as
      # a real container has: a veth pair whose both ends stay in this namespace provides one.
      ip link add veth0 type veth peer name veth1
      ip link set veth0 up && ip link set veth1 up
      ip addr add 192.0.2.1/24 dev veth0 && ip addr add fd00:53::1/64 dev veth0
      mount --bind ${dir}/resolv.conf /etc/resolv.conf
      mount --bind ${dir}/hosts /etc/hosts
      MESH_DNS_LISTEN=127.0.0.1:53 MESH_DNS_HTTP_LISTEN=127.0.0.1:9153 ${NODE_BINARY} ${MAIN} > ${dir}/mesh-dns.log 2>&1 &
      pid=$!
      trap 'kill -TERM $pid 2>/dev/null' EXIT
      for i in $(seq 1 100); do getent hosts hello.mesh.local >/dev/null 2>&1 && break; sleep 0.1; done
      for query in "ahostsv4 hello.mesh.local" "ahostsv6 hello.mesh.local" "ahosts hello.mesh.local" "hosts hello" "ahostsv4 www" "hosts nobody.mesh.local"; do
        echo "== $query"
        getent $query
        echo "status $?"
      done
      kill -TERM $pid
      wait $pid
      echo "mesh-dns exit $?"
    `;
    const stdout = await runInNetworkNamespace(script, 30_000);
    await writeFile(join(dir, 'out.txt'), stdout);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function block(query: string): Promise<{ lines: string[]; status: number }> {
    const out = await readFile(join(dir, 'out.txt'), 'utf8');
    const section = out.split(`== ${query}\n`)[1]?.split('\n== ')[0] ?? '';
    const lines = section.split('\n').filter((line) => line !== '' && !line.startsWith('status') && !line.startsWith('mesh-dns exit'));
    const status = Number(/status (\d+)/.exec(section)?.[1] ?? -1);
    return { lines, status };
  }

  it('resolves both A records and the AAAA of a mesh name', async () => {
    const v4 = await block('ahostsv4 hello.mesh.local');
    expect(v4.status).toBe(0);
    expect([...new Set(v4.lines.map((line) => line.split(/\s+/)[0]))].sort()).toEqual(['192.0.2.10', '192.0.2.11']);
    const v6 = await block('ahostsv6 hello.mesh.local');
    expect(v6.status).toBe(0);
    expect(new Set(v6.lines.map((line) => line.split(/\s+/)[0]))).toEqual(new Set(['2001:db8::10']));
  });

  it('resolves A and AAAA together (AF_UNSPEC: both queries in parallel on one socket)', async () => {
    const both = await block('ahosts hello.mesh.local');
    expect(both.status).toBe(0);
    expect(new Set(both.lines.map((line) => line.split(/\s+/)[0]))).toEqual(new Set(['192.0.2.10', '192.0.2.11', '2001:db8::10']));
  });

  it('completes a bare name through the search list (ndots:1) and follows a CNAME', async () => {
    const bare = await block('hosts hello');
    expect(bare.status).toBe(0);
    expect(bare.lines[0]).toMatch(/^(192\.0\.2\.1[01]|2001:db8::10)\s+hello\.mesh\.local/);
    const cname = await block('ahostsv4 www');
    expect(cname.status).toBe(0);
    expect(cname.lines.join('\n')).toContain('hello.mesh.local');
  });

  it('reports a missing mesh name as not found (exit status 2)', async () => {
    expect((await block('hosts nobody.mesh.local')).status).toBe(2);
  });
});
