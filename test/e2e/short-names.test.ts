// Short names and search-path shortcuts with glibc as the client (issue 8 items 1 and 2).
//
// Two network namespaces made by the test (`ip netns add`, inside runInNetworkNamespace's private
// mount and PID namespaces; /run/netns and /etc/netns are tmpfs there, so nothing is left on the
// host and every process dies with the PID namespace), joined by a veth pair on
// 10.53.0.0/24, a subnet that exists only inside them:
//   mdns-srv  10.53.0.1  mesh-dns on port 53 (static record `weather`, no registry)
//             10.53.0.2  knotd, the upstream: example.test with `api` (test/support/knot.ts)
//             10.53.0.3  dnsmasq, the stand-in container runtime resolver: `registry` only
//   mdns-cli  10.53.0.10 getent, with /etc/netns/mdns-cli/resolv.conf (`ip netns exec` mounts it)
// For ndots:0 and ndots:5, with names.autopath off and on, each lookup is run five times; the
// queries mesh-dns received for it (meshdns_dns_requests_total before/after) and its latency
// (inside the client namespace, around getent) are printed as a table and asserted.
//
// MESH_DNS_E2E_MAIN runs the same lookups against another checkout's src/main.ts (the "before"
// column of the measurement); the assertions are about this checkout's behaviour.

import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXAMPLE_TEST_ZONE, knotConfig, writeKnotZones } from '../support/knot.ts';
import { MAIN, NODE_BINARY, TEST_RESOLV_CONF } from '../support/mesh-dns.ts';
import { namespaceUnavailable, runInNetworkNamespace } from '../support/namespace.ts';
import { isRoot, reportSkip } from '../support/tools.ts';

const unavailable = namespaceUnavailable(['getent', 'knotd', 'knotc', 'dnsmasq', 'curl', 'dig']);
if (unavailable) reportSkip('glibc short-name test', unavailable);

const NAMES = ['weather', 'api.example.test', 'registry'] as const;
const EXPECTED_ADDRESS: Record<(typeof NAMES)[number], string> = { weather: '10.53.0.77', 'api.example.test': '192.0.2.80', registry: '10.53.0.88' };
const RUNS = 5;
const BATCH = 20;
const MAIN_UNDER_TEST = process.env['MESH_DNS_E2E_MAIN'] || MAIN;
// A checkout from before these options refuses their variables: it runs without them (its
// "autopath true" rows are then the same program as its "false" rows).
const OPTIONS_UNDER_TEST = process.env['MESH_DNS_E2E_MAIN'] ? '' : 'MESH_DNS_RUNTIME_RESOLVER=10.53.0.3 MESH_DNS_AUTOPATH=$autopath';

interface Lookup {
  autopath: boolean;
  ndots: number;
  name: string;
  run: number;
  status: number;
  queries: number;
  micros: number;
  addresses: string[];
}

function script(dir: string): string {
  return `
set -u
D=${dir}
PIDS=""
cleanup() { for pid in $PIDS; do kill -TERM $pid 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT
mount --make-rprivate /
# No /etc/netns on the host (a run without root cannot make it): a copy of /etc that has one,
# bound over /etc in this mount namespace only.
if [ ! -d /etc/netns ]; then E=$(mktemp -d); cp -a /etc/. "$E"/ 2>/dev/null; mkdir -p "$E/netns"; mount --bind "$E" /etc; fi
mkdir -p /run/netns && mount -t tmpfs tmpfs /run/netns
mount -t tmpfs tmpfs /etc/netns
mkdir -p /etc/netns/mdns-cli
printf '127.0.0.1 localhost\\n' > /etc/netns/mdns-cli/hosts
printf 'hosts: files dns\\n' > /etc/netns/mdns-cli/nsswitch.conf
ip netns add mdns-srv && ip netns add mdns-cli
S="ip netns exec mdns-srv"
C="ip netns exec mdns-cli"
ip link add v-srv netns mdns-srv type veth peer name v-cli netns mdns-cli
$S ip link set lo up && $C ip link set lo up
$S ip link set v-srv up && $C ip link set v-cli up
for address in 10.53.0.1 10.53.0.2 10.53.0.3; do $S ip addr add $address/24 dev v-srv; done
$C ip addr add 10.53.0.10/24 dev v-cli
# A client with both families, as a container has (getaddrinfo asks A and AAAA in parallel).
$S ip addr add fd53::1/64 dev v-srv nodad && $C ip addr add fd53::10/64 dev v-cli nodad

$S knotd -c $D/knot/knot.conf > $D/knot.log 2>&1 &
PIDS="$PIDS $!"
# -d (no fork, no privilege change) rather than -k: in a user namespace dnsmasq cannot drop capabilities.
$S dnsmasq -d -C /dev/null --no-resolv --no-hosts --bind-interfaces --listen-address=10.53.0.3 --port=53 \\
  --host-record=registry,10.53.0.88 --log-queries --log-facility=$D/dnsmasq.log --pid-file= --user=root > $D/dnsmasq.out 2>&1 &
PIDS="$PIDS $!"
for i in $(seq 1 100); do $S dig -b 10.53.0.2 +time=1 +tries=1 +short @10.53.0.2 api.example.test A 2>/dev/null | grep -q 192.0.2.80 && break; sleep 0.1; done
for i in $(seq 1 100); do $S dig -b 10.53.0.2 +time=1 +tries=1 +short @10.53.0.3 registry A 2>/dev/null | grep -q 10.53.0.88 && break; sleep 0.1; done

requests() { $S curl -s http://10.53.0.1:9153/metrics | awk '/^meshdns_dns_requests_total/ { total += $NF } END { print total + 0 }'; }

for autopath in false true; do
  $S env -i PATH="$PATH" MESH_DNS_LISTEN=10.53.0.1:53 MESH_DNS_HTTP_LISTEN=10.53.0.1:9153 MESH_DNS_UPSTREAMS=10.53.0.2 \\
    ${OPTIONS_UNDER_TEST} MESH_DNS_RESOLV_CONF=${TEST_RESOLV_CONF} \\
    MESH_DNS_RECORDS="weather A 10.53.0.77" MESH_DNS_SNAPSHOT_PATH= MESH_DNS_LOOP_DETECT=false MESH_DNS_LOG_LEVEL=warn \\
    ${NODE_BINARY} ${MAIN_UNDER_TEST} --config /dev/null > $D/mesh-dns-$autopath.log 2>&1 &
  MESH=$!
  PIDS="$PIDS $MESH"
  for i in $(seq 1 150); do $S curl -sf http://10.53.0.1:9153/health > /dev/null 2>&1 && break; sleep 0.1; done
  $S curl -sf http://10.53.0.1:9153/health > /dev/null 2>&1 || { echo "mesh-dns did not start:"; cat $D/mesh-dns-$autopath.log; }
  for ndots in 0 5; do
    printf 'nameserver 10.53.0.1\\nsearch mesh.local\\noptions ndots:%s timeout:1 attempts:2\\n' $ndots > /etc/netns/mdns-cli/resolv.conf
    for name in ${NAMES.join(' ')}; do
      for run in $(seq 1 ${RUNS}); do
        before=$(requests)
        measured=$($C sh -c 'start=$(date +%s%N); getent ahosts "$1" > "$2"; status=$?; end=$(date +%s%N); echo "$status $(( (end - start) / 1000 ))"' sh $name $D/out)
        after=$(requests)
        addresses=$(awk '{ print $1 }' $D/out | sort -u | tr '\\n' ',')
        echo "RESULT $autopath $ndots $name $run $measured $((after - before)) $addresses"
      done
      # Latency with less noise than one fork of date per lookup: ${BATCH} lookups in a row.
      batch=$($C sh -c 'start=$(date +%s%N); i=0; while [ $i -lt $2 ]; do getent ahosts "$1" > /dev/null; i=$((i + 1)); done; end=$(date +%s%N); echo $(( (end - start) / 1000 / $2 ))' sh $name ${BATCH})
      echo "BATCH $autopath $ndots $name $batch"
    done
  done
  kill -TERM $MESH; wait $MESH
done
echo "KNOT $(knotc -s $D/knot/knot.sock stats mod-stats | awk -F' = ' '/server-operation\\[query\\]/ { print $2 }') $(knotc -s $D/knot/knot.sock zone-stats example.test mod-stats | awk -F' = ' '/server-operation\\[query\\]/ { print $2 }')"
`;
}

describe.skipIf(unavailable !== null)('short names with glibc in network namespaces', () => {
  let dir = '';
  let lookups: Lookup[] = [];
  let dnsmasqLog = '';
  let knot = { total: -1, exampleTest: -1 };
  let createdEtcNetns = false;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mesh-dns-short-names-'));
    await mkdir(join(dir, 'knot'));
    const zone = { origin: 'example.test', text: `${EXAMPLE_TEST_ZONE.text}api 300 A 192.0.2.80\n` };
    await writeKnotZones(join(dir, 'knot'), [zone]);
    await writeFile(join(dir, 'knot', 'knot.conf'), knotConfig(join(dir, 'knot'), 53, [zone], '10.53.0.2'));
    // `ip netns exec` reads /etc/netns/<ns>/; the script mounts a tmpfs on it, which needs the
    // directory. Made here by root only if missing, and removed again afterwards (without root,
    // the script binds a copy of /etc that has one).
    createdEtcNetns = isRoot() && !existsSync('/etc/netns');
    if (createdEtcNetns) await mkdir('/etc/netns');
    const stdout = await runInNetworkNamespace(script(dir), 240_000);
    lookups = stdout.split('\n').filter((line) => line.startsWith('RESULT ')).map((line) => {
      const [, autopath, ndots, name, runIndex, status, micros, queries, addresses] = line.split(' ');
      return {
        autopath: autopath === 'true', ndots: Number(ndots), name: name!, run: Number(runIndex), status: Number(status),
        micros: Number(micros), queries: Number(queries), addresses: (addresses ?? '').split(',').filter((address) => address !== ''),
      };
    });
    if (stdout.includes('mesh-dns did not start')) console.warn(stdout.slice(stdout.indexOf('mesh-dns did not start'), stdout.indexOf('mesh-dns did not start') + 2000));
    const knotLine = /^KNOT (\d+) (\d+)$/m.exec(stdout);
    if (knotLine) knot = { total: Number(knotLine[1]), exampleTest: Number(knotLine[2]) };
    dnsmasqLog = await readFile(join(dir, 'dnsmasq.log'), 'utf8').catch(() => '');
    const batches = new Map(stdout.split('\n').filter((line) => line.startsWith('BATCH ')).map((line) => {
      const [, autopath, ndots, name, micros] = line.split(' ');
      return [`${autopath} ${ndots} ${name}`, Number(micros)] as const;
    }));
    printTable(lookups, batches);
  }, 300_000);

  afterAll(async () => {
    if (createdEtcNetns) await rmdir('/etc/netns').catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  const pick = (autopath: boolean, ndots: number, name: string) => lookups.filter((lookup) => lookup.autopath === autopath && lookup.ndots === ndots && lookup.name === name);

  it('ran every lookup', () => {
    expect(lookups).toHaveLength(2 * 2 * NAMES.length * RUNS);
  });

  it.each([false, true])('every name resolves to its address under ndots:0 and ndots:5 (autopath %s)', (autopath) => {
    for (const ndots of [0, 5]) {
      for (const name of NAMES) {
        for (const lookup of pick(autopath, ndots, name)) expect({ ndots, name, status: lookup.status, addresses: lookup.addresses }).toEqual({ ndots, name, status: 0, addresses: [EXPECTED_ADDRESS[name]] });
      }
    }
  });

  it.each([false, true])('ndots:0: each name costs one round trip (A + AAAA = 2 queries), short names included (autopath %s)', (autopath) => {
    for (const name of NAMES) expect({ name, queries: pick(autopath, 0, name).map((lookup) => lookup.queries) }).toEqual({ name, queries: Array(RUNS).fill(2) });
  });

  it('ndots:5 without autopath: the external name walks the search list (4 queries); with autopath one round trip (2)', () => {
    expect(pick(false, 5, 'api.example.test').map((lookup) => lookup.queries)).toEqual(Array(RUNS).fill(4));
    expect(pick(true, 5, 'api.example.test').map((lookup) => lookup.queries)).toEqual(Array(RUNS).fill(2));
    for (const autopath of [false, true]) expect(pick(autopath, 5, 'weather').map((lookup) => lookup.queries)).toEqual(Array(RUNS).fill(2));
  });

  it('single labels reach the runtime resolver only: dnsmasq saw `registry` and nothing else; knot never saw a single label', () => {
    const asked = [...dnsmasqLog.matchAll(/query\[\w+\] (\S+) from 10\.53\.0\.1/g)].map((match) => match[1]);
    expect(asked.length).toBeGreaterThan(0);
    expect(new Set(asked)).toEqual(new Set(['registry']));
    // Every query knot received was for example.test (no `weather.`, `registry.`, no mesh name).
    expect(knot.total).toBeGreaterThan(0);
    expect(knot.total).toBe(knot.exampleTest);
  });
});

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

function printTable(lookups: readonly Lookup[], batches: ReadonlyMap<string, number>): void {
  const rows = [`autopath  ndots  name               status  queries    first ms  median ms  mean of ${BATCH} in a row, ms`];
  for (const autopath of [false, true]) {
    for (const ndots of [0, 5]) {
      for (const name of NAMES) {
        const set = lookups.filter((lookup) => lookup.autopath === autopath && lookup.ndots === ndots && lookup.name === name);
        if (set.length === 0) continue;
        rows.push([
          String(autopath).padEnd(8), String(ndots).padEnd(5), name.padEnd(17), String(set[0]!.status).padEnd(6),
          set.map((lookup) => lookup.queries).join('/').padEnd(9), (set[0]!.micros / 1000).toFixed(1).padEnd(8),
          (median(set.slice(1).map((lookup) => lookup.micros)) / 1000).toFixed(1).padEnd(9),
          ((batches.get(`${autopath} ${ndots} ${name}`) ?? NaN) / 1000).toFixed(2),
        ].join('  '));
      }
    }
  }
  console.log(`glibc lookups against ${MAIN_UNDER_TEST}:\n${rows.join('\n')}`);
}
