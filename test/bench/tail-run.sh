#!/bin/bash
# One latency-tail measurement with per-query attribution (issue 9 item 3): start SERVER pinned to
# CPU 0 (the Node servers with tail-probe.ts preloaded), warm it up for 2 s, then send QPS queries
# per second for SECONDS with tail-client.c on CPU 1, and print tail-analyze.ts's summary: the
# percentiles, the GC pauses of the run, the main thread's CPU split, and what each slow answer
# (> 250 µs) waited for. Also the server's run-queue wait over the run (/proc/PID/schedstat: time
# it was runnable but another process had CPU 0 — the machine's own noise) and CPU 0's steal time
# (/proc/stat: the host's noise, which the guest does not schedule).
#
#   flock /tmp/bench.lock test/bench/tail-run.sh mesh-dns|bare|dnsmasq [SECONDS] [QPS] [-- NODE FLAGS]
#   (mesh-dns runs dist/main.js: npm run build first; MESH_DNS_DIST=/other/dist for another build;
#   without NODE FLAGS mesh-dns gets those of bin/mesh-dns, and its exported environment)
# Files stay in TAIL_DIR (default /tmp/mesh-dns-tail): <tag>.client, <tag>.probe, <tag>.log.
set -eu
server=$1; secs=${2:-5}; qps=${3:-20000}
shift $(( $# < 3 ? $# : 3 )); [ "${1:-}" = -- ] && shift
here=$(cd "$(dirname "$0")" && pwd); repo=$(cd "$here/../.." && pwd)
node=$repo/node_modules/.bin/node
dir=${TAIL_DIR:-/tmp/mesh-dns-tail}; mkdir -p "$dir"
tag=$server-$(date +%H%M%S); out=$dir/$tag
[ -x "$dir/tail-client" ] || gcc -O2 -Wall -o "$dir/tail-client" "$here/tail-client.c"
"$node" --input-type=module -e "
  import { writeFileSync } from 'node:fs';
  import { meshZone, fqdn } from '$here/data.ts';
  import { meshDnsYaml, hostsFile } from '$here/servers.ts';
  const z = meshZone(1000);
  writeFileSync('$dir/mesh.yaml', meshDnsYaml({ local: z }));
  writeFileSync('$dir/hosts', hostsFile(z));
  writeFileSync('$dir/records.json', JSON.stringify(z.records.map((r) => ({ name: fqdn(z, r), ipv4: r.ipv4 }))));"
flags=("$@")
if [ $server = mesh-dns ] && [ ${#flags[@]} -eq 0 ]; then
  read -ra flags <<<"$(sed -n 's/^exec node \(.*\) "\$here\/\.\.\/dist\/main\.js".*/\1/p' "$repo/bin/mesh-dns")"
  # and its environment (MALLOC_ARENA_MAX): the launcher's own export lines
  eval "$(grep '^export ' "$repo/bin/mesh-dns")"
fi
# Wait (up to 60 s) until the machine is idle: < 25% of one core busy over 1 s.
busy() { read -r _ u1 n1 s1 _ _ q1 sq1 _ </proc/stat; sleep 1; read -r _ u2 n2 s2 _ _ q2 sq2 _ </proc/stat; echo $((u2 + n2 + s2 + q2 + sq2 - u1 - n1 - s1 - q1 - sq1)); }
for _ in $(seq 1 60); do [ "$(busy)" -lt 25 ] && break; done
port=$((20000 + RANDOM % 20000))
export TAIL_PROBE_FILE=$out.probe
case $server in
  dnsmasq) taskset -c 0 dnsmasq --conf-file=/dev/null --keep-in-foreground --no-resolv --no-hosts --no-poll --port=$port --listen-address=127.0.0.1 --bind-interfaces --user=root --pid-file= --log-facility=- --addn-hosts="$dir/hosts" --local=/mesh.local/ --local-ttl=5 >"$out.log" 2>&1 & ;;
  bare) taskset -c 0 "$node" "${flags[@]}" --import "$here/tail-probe.ts" "$here/bare-server.ts" --port $port --records "$dir/records.json" --ttl 5 >"$out.log" 2>&1 & ;;
  mesh-dns)
    dist=${MESH_DNS_DIST:-$repo/dist}
    (cd "$dist/.." && MESH_DNS_LISTEN=127.0.0.1:$port MESH_DNS_HTTP_LISTEN=127.0.0.1:$((port + 1)) MESH_DNS_RESOLV_CONF= \
      exec taskset -c 0 "$node" "${flags[@]}" --import "$here/tail-probe.ts" "$dist/main.js" --config "$dir/mesh.yaml") >"$out.log" 2>&1 & ;;
  *) echo "unknown server $server" >&2; exit 2 ;;
esac
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do dig +short +time=1 +tries=1 -p $port @127.0.0.1 agent-0007.mesh.local 2>/dev/null | grep -q . && break; sleep 0.2; done
taskset -c 1 "$dir/tail-client" $port "$qps" 2 1000 mesh.local "$out.warmup" 2>/dev/null
probe() { if [ $server != dnsmasq ]; then kill -USR2 $pid; sleep 0.3; fi; }
probe # start the records afresh
read -r _ wait0 _ </proc/$pid/schedstat
steal0=$(awk '/^cpu0 /{print $9}' /proc/stat)
taskset -c 1 "$dir/tail-client" $port "$qps" "$secs" 1000 mesh.local "$out.client" 2>/dev/null
read -r _ wait1 _ </proc/$pid/schedstat
steal1=$(awk '/^cpu0 /{print $9}' /proc/stat)
probe # write them
# Steal: CPU 0's time the hypervisor gave to someone else while this guest had work there; the
# guest's scheduler does not see it (no run-queue wait), the server just does not run.
echo "$tag: run-queue wait over the run $(( (wait1 - wait0) / 1000000 )) ms, CPU 0 steal $(( (steal1 - steal0) * 1000 / $(getconf CLK_TCK) )) ms (files in $dir)"
"$node" "$here/tail-analyze.ts" "$out.client" $([ $server != dnsmasq ] && echo "$out.probe")
