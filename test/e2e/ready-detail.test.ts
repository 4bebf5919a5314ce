// /ready's detail (upstream addresses, the registry's last error) goes to loopback clients only,
// by default, with the container config (HTTP on 0.0.0.0:9153 so Prometheus can scrape): the
// container's own HEALTHCHECK and `docker exec` see it, a client on the network gets the same
// status code and no detail. `http.readyDetail: always | never` change who sees it.
//
// A client that is not on loopback needs a second address: mesh-dns runs in a network namespace
// of its own with a veth pair (192.0.2.1 ⇄ 192.0.2.2, both ends inside), curl asks from each.
import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { MAIN, NODE_BINARY, REPO_ROOT } from '../support/mesh-dns.ts';
import { namespaceUnavailable, runInNetworkNamespace, sections } from '../support/namespace.ts';
import { reportSkip } from '../support/tools.ts';

const CONTAINER_CONFIG = `${REPO_ROOT}config/container.yaml`;
const unavailable = namespaceUnavailable(['curl']);
if (unavailable) reportSkip('/ready detail tests', unavailable);

/** One mesh-dns per policy; each asked from loopback and from 192.0.2.2. */
function script(): string {
  return `
    set -u
    # Logs and bodies in a directory of this run's own: fixed /tmp names collide with another user's.
    dir=$(mktemp -d)
    ip link set lo up
    ip link add veth0 type veth peer name veth1
    ip addr add 192.0.2.1/24 dev veth0 && ip addr add 192.0.2.2/24 dev veth1
    ip link set veth0 up && ip link set veth1 up
    ask() { # what, curl arguments
      what=$1; shift
      echo "== $what"
      curl -s -o "$dir/body" -w 'status %{http_code}\\n' --max-time 5 "$@"
      cat "$dir/body"
    }
    serve() { # label, registry URL, policy
      label=$1
      env -i PATH="$PATH" MCP_MESH_REGISTRY_URL="$2" MESH_DNS_READY_DETAIL="$3" MESH_DNS_SNAPSHOT_PATH= \\
        MESH_DNS_UPSTREAMS=127.0.0.1:5399 MESH_DNS_LOOP_DETECT=false \\
        ${NODE_BINARY} ${MAIN} --config ${CONTAINER_CONFIG} > "$dir/$label.log" 2>&1 &
      pid=$!
      # Ready to ask once the registry (when there is one) has failed at least once.
      for i in $(seq 1 100); do
        body=$(curl -s --max-time 1 http://127.0.0.1:9153/ready) || body=""
        if [ -n "$body" ] && { [ -z "$2" ] || [ "$3" = never ] || echo "$body" | grep -q '"consecutiveFailures":[1-9]'; }; then break; fi
        sleep 0.1
      done
      ask "$label loopback" http://127.0.0.1:9153/ready
      ask "$label network" --interface 192.0.2.2 http://192.0.2.1:9153/ready
      kill -TERM $pid; wait $pid
    }
    serve auto-down http://127.0.0.1:5398 auto
    serve auto-ready "" auto
    serve always-down http://127.0.0.1:5398 always
    serve never-down http://127.0.0.1:5398 never
    rm -rf "$dir"
  `;
}

describe.skipIf(unavailable !== null)('/ready detail with config/container.yaml (HTTP on 0.0.0.0)', () => {
  let answers: Map<string, { status: number; body: Record<string, unknown>; text: string }>;

  beforeAll(async () => {
    const stdout = await runInNetworkNamespace(script());
    if (process.env.SHOW_NETNS_OUTPUT) console.log(stdout);
    answers = new Map([...sections(stdout)].map(([label, block]) => {
      const [statusLine, ...rest] = block.split('\n');
      const text = rest.join('\n');
      return [label, { status: Number(/status (\d+)/.exec(statusLine ?? '')?.[1]), body: JSON.parse(text) as Record<string, unknown>, text }];
    }));
  });

  it('the container config listens for HTTP on 0.0.0.0 and leaves readyDetail at auto; every policy was asked from both clients', async () => {
    const yaml = await readFile(CONTAINER_CONFIG, 'utf8');
    expect(yaml).toMatch(/http: "0\.0\.0\.0:9153"/);
    expect(yaml).toMatch(/readyDetail: auto/);
    expect([...answers.keys()].sort()).toEqual(['always-down', 'auto-down', 'auto-ready', 'never-down'].flatMap((run) => [`${run} loopback`, `${run} network`]).sort());
  });

  it('auto: a loopback client gets the detail (the registry error, the upstreams)', () => {
    const loopback = answers.get('auto-down loopback')!;
    expect(loopback.status).toBe(503);
    expect(loopback.body).toMatchObject({ ready: false, registry: { consecutiveFailures: expect.any(Number), lastError: expect.stringContaining('127.0.0.1:5398') } });
    expect(loopback.text).toContain('127.0.0.1:5399');
  });

  it('auto: a client on the network gets the same status code and no detail', () => {
    const network = answers.get('auto-down network')!;
    expect(network.status).toBe(503);
    expect(network.body).toEqual({ ready: false, detail: 'shown to loopback clients only (http.readyDetail: auto)' });
    const ready = answers.get('auto-ready network')!;
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ ready: true, detail: 'shown to loopback clients only (http.readyDetail: auto)' });
    expect(answers.get('auto-ready loopback')).toMatchObject({ status: 200, body: { ready: true, registry: { configured: false } } });
  });

  it('always: the network client gets the detail too; never: not even loopback', () => {
    expect(answers.get('always-down network')).toMatchObject({ status: 503, body: { ready: false, registry: { lastError: expect.stringContaining('127.0.0.1:5398') } } });
    for (const client of ['loopback', 'network']) {
      expect(answers.get(`never-down ${client}`)).toEqual(expect.objectContaining({ status: 503, body: { ready: false, detail: 'not shown (http.readyDetail: never)' } }));
    }
  });
});
