// The UDP listener against an in-process server (startMeshDns, static records only) listening on
// both 127.0.0.1:0 and [::1]:0: UDP and TCP give the same bytes for the same query, malformed
// datagrams are dropped without harming the next query, and both address families give the
// same answers (checked with dig).
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import pino from 'pino';
import { TEST_RESOLV_CONF } from '../support/mesh-dns.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import { startMeshDns, type MeshDnsServer } from '../../src/server.ts';
import { buildQuery, decode } from '../support/dns-messages.ts';

const execFileAsync = promisify(execFile);

const TYPE = { A: 1, CNAME: 5, TXT: 16, AAAA: 28, SRV: 33 } as const;

const CONFIG = `
listen:
  dns: ["127.0.0.1:0", "[::1]:0"]
  http: "off"
zone:
  name: mesh.local
  ttl: 5s
  negativeTtl: 5s
  records:
    - { name: hello, type: A, value: 192.0.2.10 }
    - { name: hello, type: A, value: 192.0.2.11 }
    - { name: hello, type: AAAA, value: "2001:db8::10" }
    - { name: hello, type: TXT, value: "demo record from config/mesh-dns.yaml" }
    - { name: _mcp._tcp.hello, type: SRV, value: "1 1 8080 hello" }
    - { name: www, type: CNAME, value: hello }
registry:
  url: ""
shutdown:
  grace: 1s
log:
  level: silent
`;

let configDir = '';
let server: MeshDnsServer;
const ports = { udp4: 0, tcp4: 0, udp6: 0, tcp6: 0 };

beforeAll(async () => {
  configDir = await mkdtemp(join(tmpdir(), 'mesh-dns-udp-'));
  const path = join(configDir, 'mesh-dns.yaml');
  await writeFile(path, CONFIG);
  // An empty environment: nothing from the shell running the tests (MESH_DNS_*) leaks in.
  server = await startMeshDns(loadConfig(path, { MESH_DNS_RESOLV_CONF: TEST_RESOLV_CONF }), pino({ level: 'silent' }));
  const port = (prefix: string) => {
    const listener = server.listeners.find((candidate) => candidate.description.startsWith(prefix));
    if (!listener) throw new Error(`no listener "${prefix}…" among ${server.listeners.map((l) => l.description).join(', ')}`);
    return listener.port;
  };
  ports.udp4 = port('udp 127.0.0.1:');
  ports.tcp4 = port('tcp 127.0.0.1:');
  ports.udp6 = port('udp [::1]:');
  ports.tcp6 = port('tcp [::1]:');
});

afterAll(async () => {
  await server?.stop();
  if (configDir !== '') await rm(configDir, { recursive: true, force: true });
});

// ---- wire helpers ---------------------------------------------------------------------------

/** A standard query (RD set); with `udpSize` an OPT record advertising it. */
function query(id: number, name: string, qtype: number, udpSize: number | null = 1232): Buffer {
  return buildQuery({ id, name, type: qtype, edns: udpSize === null ? null : { udpSize } });
}

/** A UDP socket that keeps every datagram it receives. */
async function openUdp(): Promise<{ socket: dgram.Socket; received: Buffer[] }> {
  const socket = dgram.createSocket('udp4');
  const received: Buffer[] = [];
  socket.on('message', (message) => received.push(message));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { socket, received };
}

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

async function udpExchange(port: number, message: Buffer): Promise<Buffer> {
  const { socket, received } = await openUdp();
  try {
    socket.send(message, port, '127.0.0.1');
    await until(() => received.length > 0, 2000, 'a UDP answer');
    return received[0]!;
  } finally {
    socket.close();
  }
}

async function tcpExchange(port: number, message: Buffer): Promise<Buffer> {
  const socket = net.connect({ host: '127.0.0.1', port });
  try {
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
    });
    const prefix = Buffer.alloc(2);
    prefix.writeUInt16BE(message.length, 0);
    socket.write(Buffer.concat([prefix, message]));
    await until(() => buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0), 2000, 'a TCP answer');
    return buffered.subarray(2, 2 + buffered.readUInt16BE(0));
  } finally {
    socket.destroy();
  }
}

function withoutId(message: Buffer): Buffer {
  const copy = Buffer.from(message);
  copy.writeUInt16BE(0, 0);
  return copy;
}

async function metricValue(name: string, labels: Record<string, string>): Promise<number> {
  const metric = await server.metricsRegistry.getSingleMetric(name)?.get();
  const sample = metric?.values.find((value) => Object.entries(labels).every(([key, wanted]) => value.labels[key] === wanted));
  return sample?.value ?? 0;
}

// ---- dig ------------------------------------------------------------------------------------

interface DigResult {
  status: string;
  flags: string[];
  counts: string;
  edns: string;
  question: string[];
  answer: string[];
  authority: string[];
  transport: string;
}

function section(stdout: string, title: string): string[] {
  const body = new RegExp(`;; ${title} SECTION:\\n([\\s\\S]*?)(?:\\n\\n|$)`).exec(stdout)?.[1] ?? '';
  return body.split('\n').filter((line) => line !== '').map((line) => line.split(/\s+/).join(' '));
}

async function dig(server: string, port: number, name: string, type: string, options: string[] = []): Promise<DigResult> {
  const { stdout } = await execFileAsync('dig', [`@${server}`, '-p', String(port), name, type, '+time=2', '+tries=1', ...options], { timeout: 15_000 });
  const status = /status: (\w+)/.exec(stdout)?.[1];
  const flags = /;; flags: ([a-z ]*);/.exec(stdout)?.[1];
  const counts = /(QUERY: \d+, ANSWER: \d+, AUTHORITY: \d+, ADDITIONAL: \d+)/.exec(stdout)?.[1];
  const edns = /; EDNS: (.*)/.exec(stdout)?.[1];
  const transport = /;; SERVER: .*\((UDP|TCP)\)/.exec(stdout)?.[1];
  if (status === undefined || flags === undefined || counts === undefined || edns === undefined || transport === undefined) {
    throw new Error(`unexpected dig output:\n${stdout}`);
  }
  return {
    status,
    flags: flags.trim().split(/\s+/).sort(),
    counts,
    edns,
    question: section(stdout, 'QUESTION'),
    // Sorted: answer sets of equal-sized records are rotated between responses.
    answer: section(stdout, 'ANSWER').sort(),
    authority: section(stdout, 'AUTHORITY'),
    transport,
  };
}

// ---- tests ----------------------------------------------------------------------------------

describe('UDP and TCP give the same answer', () => {
  it.each([
    ['hello.mesh.local', TYPE.AAAA, 1232],
    ['hello.mesh.local', TYPE.TXT, 1232],
    ['_mcp._tcp.hello.mesh.local', TYPE.SRV, 1232],
    ['www.mesh.local', TYPE.CNAME, 1232],
    ['www.mesh.local', TYPE.A, 1232],
    ['missing.mesh.local', TYPE.A, 1232],
    ['hello.mesh.local', TYPE.SRV, null],
  ] as const)('%s type %i (EDNS %s): identical bytes apart from the ID', async (name, qtype, udpSize) => {
    const overUdp = await udpExchange(ports.udp4, query(0x1111, name, qtype, udpSize));
    const overTcp = await tcpExchange(ports.tcp4, query(0x2222, name, qtype, udpSize));
    expect(overUdp.readUInt16BE(0)).toBe(0x1111);
    expect(overTcp.readUInt16BE(0)).toBe(0x2222);
    expect(withoutId(overUdp).toString('hex')).toBe(withoutId(overTcp).toString('hex'));
    expect(decode(overUdp).errors).toEqual([]);
  });

  it('a rotated answer set: same header and question, same records in another order', async () => {
    const overUdp = await udpExchange(ports.udp4, query(0x3333, 'hello.mesh.local', TYPE.A));
    const overTcp = await tcpExchange(ports.tcp4, query(0x3333, 'hello.mesh.local', TYPE.A));
    expect(overUdp.length).toBe(overTcp.length);
    const questionEnd = 12 + 'hello.mesh.local'.length + 2 + 4;
    expect(overUdp.subarray(0, questionEnd).toString('hex')).toBe(overTcp.subarray(0, questionEnd).toString('hex'));
    // Two compressed A records of 16 bytes each, then the OPT.
    const records = (message: Buffer) => [0, 1].map((index) => message.subarray(questionEnd + index * 16, questionEnd + (index + 1) * 16).toString('hex')).sort();
    expect(records(overUdp)).toEqual(records(overTcp));
    expect(overUdp.subarray(questionEnd + 32).toString('hex')).toBe(overTcp.subarray(questionEnd + 32).toString('hex'));
    const answers = decode(overUdp).answers.map((answer) => answer.address).sort();
    expect(answers).toEqual(['192.0.2.10', '192.0.2.11']);
  });
});

describe('malformed datagrams', () => {
  it('drops an empty datagram, an 11-byte one and a response (QR=1), then answers the next query', async () => {
    const droppedBefore = {
      short: await metricValue('meshdns_dns_dropped_total', { reason: 'short_header' }),
      response: await metricValue('meshdns_dns_dropped_total', { reason: 'response_packet' }),
    };
    const { socket, received } = await openUdp();
    try {
      const asResponse = query(0x7777, 'hello.mesh.local', TYPE.A);
      asResponse.writeUInt16BE(0x8100, 2); // QR=1, as if an answer were reflected at us
      socket.send(Buffer.alloc(0), ports.udp4, '127.0.0.1');
      socket.send(query(0x7775, 'hello.mesh.local', TYPE.A).subarray(0, 11), ports.udp4, '127.0.0.1');
      socket.send(asResponse, ports.udp4, '127.0.0.1');
      await sleep(50);
      socket.send(query(0x7778, 'hello.mesh.local', TYPE.A), ports.udp4, '127.0.0.1');
      await until(() => received.length > 0, 2000, 'the answer to the good query');
      await sleep(200);
      expect(received.map((message) => message.readUInt16BE(0))).toEqual([0x7778]);
      expect(decode(received[0]!)).toMatchObject({ qr: true, aa: true, rcode: 0, counts: { an: 2 } });
    } finally {
      socket.close();
    }
    expect(await metricValue('meshdns_dns_dropped_total', { reason: 'short_header' })).toBe(droppedBefore.short + 2);
    expect(await metricValue('meshdns_dns_dropped_total', { reason: 'response_packet' })).toBe(droppedBefore.response + 1);
  });
});

describe('dual stack: 127.0.0.1 and ::1', () => {
  it('binds both families, each on its own port', () => {
    expect(server.listeners.map((listener) => listener.description)).toEqual([
      `udp 127.0.0.1:${ports.udp4}`, `tcp 127.0.0.1:${ports.tcp4}`, `udp [::1]:${ports.udp6}`, `tcp [::1]:${ports.tcp6}`,
    ]);
  });

  it.each([
    ['hello.mesh.local', 'A', ['hello.mesh.local. 5 IN A 192.0.2.10', 'hello.mesh.local. 5 IN A 192.0.2.11']],
    ['hello.mesh.local', 'AAAA', ['hello.mesh.local. 5 IN AAAA 2001:db8::10']],
    ['hello.mesh.local', 'TXT', ['hello.mesh.local. 5 IN TXT "demo record from config/mesh-dns.yaml"']],
    ['_mcp._tcp.hello.mesh.local', 'SRV', ['_mcp._tcp.hello.mesh.local. 5 IN SRV 1 1 8080 hello.mesh.local.']],
    ['www.mesh.local', 'A', ['hello.mesh.local. 5 IN A 192.0.2.10', 'hello.mesh.local. 5 IN A 192.0.2.11', 'www.mesh.local. 5 IN CNAME hello.mesh.local.']],
  ] as const)('%s %s: same status, flags, sections and TTLs over IPv4 and IPv6, UDP and TCP', async (name, type, expected) => {
    const overIpv4 = await dig('127.0.0.1', ports.udp4, name, type);
    const overIpv6 = await dig('::1', ports.udp6, name, type);
    const overIpv6Tcp = await dig('::1', ports.tcp6, name, type, ['+tcp']);
    expect(overIpv4).toMatchObject({ status: 'NOERROR', answer: [...expected], authority: [], transport: 'UDP' });
    // RA is left out: whether recursion is offered is access policy; it must just agree across families.
    expect(overIpv4.flags).toEqual(expect.arrayContaining(['aa', 'qr', 'rd']));
    expect(overIpv4.flags).not.toContain('tc');
    expect(overIpv4.edns).toBe('version: 0, flags:; udp: 1232');
    expect(overIpv6).toEqual(overIpv4);
    expect({ ...overIpv6Tcp, transport: 'UDP' }).toEqual(overIpv4);
    expect(overIpv6Tcp.transport).toBe('TCP');
  });

  it('a name that does not exist: NXDOMAIN with the same SOA over both families', async () => {
    const overIpv4 = await dig('127.0.0.1', ports.udp4, 'nope.mesh.local', 'A');
    const overIpv6 = await dig('::1', ports.udp6, 'nope.mesh.local', 'A');
    expect(overIpv4).toMatchObject({ status: 'NXDOMAIN', answer: [] });
    expect(overIpv4.flags).toEqual(expect.arrayContaining(['aa', 'qr', 'rd']));
    expect(overIpv4.authority).toHaveLength(1);
    expect(overIpv4.authority[0]).toMatch(/^mesh\.local\. 5 IN SOA /);
    expect(overIpv6).toEqual(overIpv4);
  });

  it('counts IPv6 queries under family="ipv6"', async () => {
    const before = await metricValue('meshdns_dns_requests_total', { proto: 'udp', family: 'ipv6', type: 'TXT' });
    await dig('::1', ports.udp6, 'hello.mesh.local', 'TXT');
    expect(await metricValue('meshdns_dns_requests_total', { proto: 'udp', family: 'ipv6', type: 'TXT' })).toBe(before + 1);
  });
});
