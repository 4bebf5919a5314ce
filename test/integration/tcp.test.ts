// RFC 7766 behaviour of the TCP listener against an in-process server (startMeshDns on
// 127.0.0.1:0, static records only): length prefix and body split across writes, pipelining,
// the idle timeout, the connection cap, half-close, garbage frames, and an answer too large for
// UDP (TC=1 there, whole over TCP). Queries are built byte by byte so the test controls framing.
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import pino from 'pino';
import { TEST_RESOLV_CONF } from '../support/mesh-dns.ts';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import { startMeshDns, type MeshDnsServer } from '../../src/server.ts';
import { buildQuery, decode } from '../support/dns-messages.ts';
import { until } from '../support/processes.ts';
import { connectTcp, destroyTcpClients, framed, type TcpClient } from '../support/tcp-client.ts';

const execFileAsync = promisify(execFile);

const TYPE = { A: 1, CNAME: 5, TXT: 16, AAAA: 28, SRV: 33 } as const;
const RCODE = { NOERROR: 0, FORMERR: 1, NXDOMAIN: 3 } as const;
const IDLE_TIMEOUT_MS = 300;
const MAX_CONNECTIONS = 2;
/** 100 A records on one name: 1,600 bytes of answer, over any UDP limit we advertise (1232). */
const BIG_ADDRESSES = Array.from({ length: 100 }, (_, index) => `198.51.100.${index + 1}`);

// ---- a server per set of limits -------------------------------------------------------------

function configYaml(limits: Record<string, string | number>): string {
  const records = [
    '{ name: hello, type: A, value: 192.0.2.10 }',
    '{ name: hello, type: A, value: 192.0.2.11 }',
    '{ name: hello, type: AAAA, value: "2001:db8::10" }',
    '{ name: hello, type: TXT, value: "demo record" }',
    '{ name: _mcp._tcp.hello, type: SRV, value: "1 1 8080 hello" }',
    '{ name: www, type: CNAME, value: hello }',
    ...BIG_ADDRESSES.map((address) => `{ name: big, type: A, value: ${address} }`),
  ];
  return [
    'listen:',
    '  dns: ["127.0.0.1:0"]',
    '  http: "off"',
    'zone:',
    '  name: mesh.local',
    '  ttl: 5s',
    '  records:',
    ...records.map((record) => `    - ${record}`),
    'registry:',
    '  url: ""',
    'limits:',
    ...Object.entries(limits).map(([key, value]) => `  ${key}: ${value}`),
    'shutdown:',
    '  grace: 1s',
    'log:',
    '  level: silent',
    '',
  ].join('\n');
}

let configDir = '';
const servers: MeshDnsServer[] = [];

async function startServer(name: string, limits: Record<string, string | number>): Promise<{ server: MeshDnsServer; tcpPort: number; udpPort: number }> {
  const path = join(configDir, `${name}.yaml`);
  await writeFile(path, configYaml(limits));
  // An empty environment: nothing from the shell running the tests (MESH_DNS_*) leaks in.
  const server = await startMeshDns(loadConfig(path, { MESH_DNS_RESOLV_CONF: TEST_RESOLV_CONF }), pino({ level: 'silent' }));
  servers.push(server);
  const port = (protocol: string) => server.listeners.find((listener) => listener.description.startsWith(`${protocol} 127.0.0.1:`))!.port;
  return { server, tcpPort: port('tcp'), udpPort: port('udp') };
}

// ---- wire helpers ---------------------------------------------------------------------------

/** A standard query (RD set); with `udpSize` an OPT record advertising it. */
function query(id: number, name: string, qtype: number, udpSize: number | null = 1232): Buffer {
  return buildQuery({ id, name, type: qtype, edns: udpSize === null ? null : { udpSize } });
}

function parse(message: Buffer) {
  const decoded = decode(message);
  expect(decoded.errors).toEqual([]);
  return decoded;
}

function sortedAddresses(message: Buffer): string[] {
  return parse(message).answers.map((answer) => answer.address ?? '').sort();
}


async function udpExchange(port: number, message: Buffer, timeoutMs = 2000): Promise<Buffer> {
  const socket = dgram.createSocket('udp4');
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no UDP answer')), timeoutMs);
      socket.once('message', (answer) => {
        clearTimeout(timer);
        resolve(answer);
      });
      socket.once('error', reject);
      socket.send(message, port, '127.0.0.1');
    });
  } finally {
    socket.close();
  }
}

interface DigResult {
  status: string;
  flags: string[];
  answerCount: number;
  answers: string[];
  transport: string;
}

async function dig(port: number, name: string, type: string, options: string[]): Promise<DigResult> {
  const { stdout } = await execFileAsync('dig', [`@127.0.0.1`, '-p', String(port), name, type, '+time=2', '+tries=1', ...options], { timeout: 15_000 });
  const status = /status: (\w+)/.exec(stdout)?.[1];
  const flags = /;; flags: ([a-z ]*);/.exec(stdout)?.[1];
  const answerCount = /ANSWER: (\d+)/.exec(stdout)?.[1];
  const transport = /;; SERVER: .*\((UDP|TCP)\)/.exec(stdout)?.[1];
  if (status === undefined || flags === undefined || answerCount === undefined || transport === undefined) throw new Error(`unexpected dig output:\n${stdout}`);
  const answerSection = /;; ANSWER SECTION:\n([\s\S]*?)\n\n/.exec(stdout)?.[1] ?? '';
  return {
    status,
    flags: flags.trim().split(/\s+/).sort(),
    answerCount: Number(answerCount),
    answers: answerSection.split('\n').filter((line) => line !== '').map((line) => line.split(/\s+/).join(' ')),
    transport,
  };
}

// ---- lifecycle ------------------------------------------------------------------------------

let main: { server: MeshDnsServer; tcpPort: number; udpPort: number };

beforeAll(async () => {
  configDir = await mkdtemp(join(tmpdir(), 'mesh-dns-tcp-'));
  main = await startServer('main', { tcpIdleTimeout: '10s', tcpMaxConnections: 64 });
});

afterEach(destroyTcpClients);

afterAll(async () => {
  destroyTcpClients();
  await Promise.all(servers.splice(0).map((server) => server.stop()));
  if (configDir !== '') await rm(configDir, { recursive: true, force: true });
});

// ---- tests ----------------------------------------------------------------------------------

describe('TCP framing (RFC 7766 §8)', () => {
  it('answers a query whose length prefix and body arrive in separate writes', async () => {
    const client = await connectTcp(main.tcpPort);
    const message = framed(query(0x1234, 'hello.mesh.local', TYPE.A));
    client.socket.write(message.subarray(0, 2));
    await sleep(50);
    expect(client.messages).toHaveLength(0);
    client.socket.write(message.subarray(2));
    const [answer] = await client.waitForMessages(1);
    const packet = parse(answer!);
    expect(packet).toMatchObject({ id: 0x1234, qr: true, aa: true, tc: false, rcode: RCODE.NOERROR, counts: { an: 2 } });
    expect(sortedAddresses(answer!)).toEqual(['192.0.2.10', '192.0.2.11']);
  });

  it('answers a query split in the middle of its length prefix, and again inside the body', async () => {
    const client = await connectTcp(main.tcpPort);
    const message = framed(query(0x2345, 'hello.mesh.local', TYPE.AAAA));
    client.socket.write(message.subarray(0, 1));
    await sleep(50);
    client.socket.write(message.subarray(1, 9));
    await sleep(50);
    expect(client.messages).toHaveLength(0);
    client.socket.write(message.subarray(9));
    const [answer] = await client.waitForMessages(1);
    const packet = parse(answer!);
    expect(packet).toMatchObject({ id: 0x2345, rcode: RCODE.NOERROR, counts: { an: 1 } });
    expect(packet.answers[0]).toMatchObject({ type: TYPE.AAAA, address: '2001:db8::10', ttl: 5 });
  });

  it('answers 10 queries pipelined in one write, each under its own ID (§6.2.1.1)', async () => {
    const client = await connectTcp(main.tcpPort);
    const questions: [string, number][] = [
      ['hello.mesh.local', TYPE.A], ['hello.mesh.local', TYPE.AAAA], ['hello.mesh.local', TYPE.TXT],
      ['_mcp._tcp.hello.mesh.local', TYPE.SRV], ['www.mesh.local', TYPE.A], ['www.mesh.local', TYPE.CNAME],
      ['missing.mesh.local', TYPE.A], ['hello.mesh.local', TYPE.SRV], ['big.mesh.local', TYPE.A], ['hello.mesh.local', TYPE.A],
    ];
    const ids = questions.map((_, index) => 0x4000 + index * 17);
    client.socket.write(Buffer.concat(questions.map(([name, qtype], index) => framed(query(ids[index]!, name, qtype)))));
    const answers = await client.waitForMessages(10);
    await sleep(100);
    expect(client.messages).toHaveLength(10);
    const byId = new Map(answers.map((answer) => [answer.readUInt16BE(0), parse(answer)]));
    expect([...byId.keys()].sort()).toEqual([...ids].sort());
    questions.forEach(([name, qtype], index) => {
      const packet = byId.get(ids[index]!)!;
      // Each answer carries the question of the query with its ID, not a neighbour's.
      expect(packet.questions).toEqual([{ name, type: qtype, class: 1 }]);
    });
    expect(byId.get(ids[6]!)!.rcode).toBe(RCODE.NXDOMAIN);
    expect(byId.get(ids[7]!)!).toMatchObject({ rcode: RCODE.NOERROR, counts: { an: 0 } });
    expect(byId.get(ids[8]!)!).toMatchObject({ rcode: RCODE.NOERROR, tc: false, counts: { an: 100 } });
    expect(byId.get(ids[4]!)!.answers.map((answer) => answer.type)).toEqual([TYPE.CNAME, TYPE.A, TYPE.A]);
  });

  it('drops or FORMERRs garbage frames and keeps serving the same connection', async () => {
    const client = await connectTcp(main.tcpPort);
    // Shorter than a header: no ID to answer under, dropped.
    const tooShort = Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00]);
    // A header claiming one question, followed by a label running past the end: FORMERR.
    const brokenQuestion = Buffer.from([0x0b, 0xad, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3f, 0x61, 0x62]);
    const emptyFrame = Buffer.alloc(0);
    client.socket.write(Buffer.concat([framed(tooShort), framed(brokenQuestion), framed(emptyFrame), framed(query(0x0a0a, 'hello.mesh.local', TYPE.TXT))]));
    await client.waitForMessages(2);
    await sleep(100);
    expect(client.messages).toHaveLength(2);
    const formerr = parse(client.messages[0]!);
    expect(formerr).toMatchObject({ id: 0x0bad, qr: true, rcode: RCODE.FORMERR, counts: { qd: 0, an: 0 } });
    const good = parse(client.messages[1]!);
    expect(good).toMatchObject({ id: 0x0a0a, rcode: RCODE.NOERROR, counts: { an: 1 } });
    expect(good.answers[0]!.data).toEqual(['demo record']);
    expect(client.closedAt).toBeNull();

    // The server is unharmed: a new connection and UDP still answer.
    const fresh = await connectTcp(main.tcpPort);
    fresh.socket.write(framed(query(0x0b0b, 'hello.mesh.local', TYPE.A)));
    const [freshAnswer] = await fresh.waitForMessages(1);
    expect(parse(freshAnswer!)).toMatchObject({ id: 0x0b0b, rcode: RCODE.NOERROR, counts: { an: 2 } });
    const udpAnswer = await udpExchange(main.udpPort, query(0x0c0c, 'hello.mesh.local', TYPE.A));
    expect(parse(udpAnswer)).toMatchObject({ id: 0x0c0c, rcode: RCODE.NOERROR, counts: { an: 2 } });
  });
});

describe('TCP connection management', () => {
  let idle: { tcpPort: number };
  let capped: { tcpPort: number };

  beforeAll(async () => {
    idle = await startServer('idle', { tcpIdleTimeout: `${IDLE_TIMEOUT_MS}ms` });
    capped = await startServer('capped', { tcpIdleTimeout: '10s', tcpMaxConnections: MAX_CONNECTIONS });
  });

  it(`closes a connection idle for limits.tcpIdleTimeout (${IDLE_TIMEOUT_MS} ms, §6.2.3)`, async () => {
    const client = await connectTcp(idle.tcpPort);
    const closedAt = await client.waitForClose(5000);
    const elapsed = closedAt - client.connectedAt;
    // The server's timer starts at accept, after our connect; libuv's cached loop time can make
    // a timer fire up to ~1 ms early, hence the small allowance.
    expect(elapsed).toBeGreaterThanOrEqual(IDLE_TIMEOUT_MS - 5);
    expect(elapsed).toBeLessThan(2000);
    expect(client.messages).toHaveLength(0);
  });

  it('restarts the idle timer on every query', async () => {
    const client = await connectTcp(idle.tcpPort);
    client.socket.write(framed(query(1, 'hello.mesh.local', TYPE.A)));
    await client.waitForMessages(1);
    await sleep(200);
    expect(client.closedAt).toBeNull();
    const secondQueryAt = performance.now();
    client.socket.write(framed(query(2, 'hello.mesh.local', TYPE.A)));
    await client.waitForMessages(2);
    const closedAt = await client.waitForClose(5000);
    expect(closedAt - secondQueryAt).toBeGreaterThanOrEqual(IDLE_TIMEOUT_MS - 5);
    expect(closedAt - client.connectedAt).toBeGreaterThanOrEqual(200 + IDLE_TIMEOUT_MS - 5);
    expect(client.messages.map((message) => message.readUInt16BE(0))).toEqual([1, 2]);
  });

  it(`closes the connection past limits.tcpMaxConnections (${MAX_CONNECTIONS}) and keeps the others`, async () => {
    const open: TcpClient[] = [];
    for (let index = 0; index < MAX_CONNECTIONS; index++) {
      const client = await connectTcp(capped.tcpPort);
      client.socket.write(framed(query(0x100 + index, 'hello.mesh.local', TYPE.A)));
      await client.waitForMessages(1);
      open.push(client);
    }
    const extra = await connectTcp(capped.tcpPort);
    extra.socket.write(framed(query(0x1ff, 'hello.mesh.local', TYPE.A)));
    await extra.waitForClose(2000);
    expect(extra.messages).toHaveLength(0);

    // The connections inside the cap still serve.
    for (const [index, client] of open.entries()) {
      client.socket.write(framed(query(0x200 + index, 'hello.mesh.local', TYPE.A)));
      const messages = await client.waitForMessages(2);
      expect(messages[1]!.readUInt16BE(0)).toBe(0x200 + index);
      expect(client.closedAt).toBeNull();
    }

    // Closing one frees a slot (the server notices our FIN and closes its side).
    open[0]!.socket.end();
    await open[0]!.waitForClose(2000);
    let answered: TcpClient | null = null;
    const deadline = performance.now() + 3000;
    while (answered === null && performance.now() < deadline) {
      const candidate = await connectTcp(capped.tcpPort);
      candidate.socket.write(framed(query(0x300, 'hello.mesh.local', TYPE.A)));
      await until(() => candidate.messages.length > 0 || candidate.closedAt !== null, 2000, 'an answer or a close');
      if (candidate.messages.length > 0) answered = candidate;
      else await sleep(20);
    }
    expect(answered, 'a connection accepted after one closed').not.toBeNull();
    expect(answered!.messages[0]!.readUInt16BE(0)).toBe(0x300);
  });

  it('answers every query written before a half-close, then sends FIN', async () => {
    const client = await connectTcp(main.tcpPort);
    const ids = [0x5001, 0x5002, 0x5003];
    client.socket.end(Buffer.concat([
      framed(query(ids[0]!, 'hello.mesh.local', TYPE.A)),
      framed(query(ids[1]!, 'big.mesh.local', TYPE.A)),
      framed(query(ids[2]!, 'www.mesh.local', TYPE.A)),
    ]));
    await client.waitForClose(3000);
    expect(client.messages.map((message) => message.readUInt16BE(0)).sort()).toEqual(ids);
    expect(client.endedAt).not.toBeNull();
    expect(client.messagesAtEnd).toBe(3);
    expect(client.errors).toEqual([]);
    expect(parse(client.messages.find((message) => message.readUInt16BE(0) === 0x5002)!).counts.an).toBe(100);
  });
});

describe('answers larger than UDP allows', () => {
  it('UDP with EDNS 1232: TC=1, no records, the OPT kept (RFC 6891 §7)', async () => {
    const answer = await udpExchange(main.udpPort, query(0x6001, 'big.mesh.local', TYPE.A, 1232));
    expect(answer.length).toBeLessThanOrEqual(1232);
    const packet = parse(answer);
    expect(packet).toMatchObject({ id: 0x6001, qr: true, aa: true, tc: true, rcode: RCODE.NOERROR, counts: { qd: 1, an: 0, ns: 0, ar: 1 } });
    expect(packet.opt).toMatchObject({ udpSize: 1232, version: 0 });
  });

  it('UDP without EDNS: TC=1 within 512 bytes', async () => {
    const answer = await udpExchange(main.udpPort, query(0x6002, 'big.mesh.local', TYPE.A, null));
    expect(answer.length).toBeLessThanOrEqual(512);
    expect(parse(answer)).toMatchObject({ id: 0x6002, tc: true, rcode: RCODE.NOERROR, counts: { an: 0, ar: 0 } });
  });

  it('TCP: the whole answer, all 100 records', async () => {
    const client = await connectTcp(main.tcpPort);
    client.socket.write(framed(query(0x6003, 'big.mesh.local', TYPE.A)));
    const [answer] = await client.waitForMessages(1);
    const packet = parse(answer!);
    expect(packet).toMatchObject({ id: 0x6003, aa: true, tc: false, rcode: RCODE.NOERROR, counts: { an: 100 } });
    expect(sortedAddresses(answer!)).toEqual([...BIG_ADDRESSES].sort());
    expect(packet.answers.every((record) => record.name === 'big.mesh.local' && record.ttl === 5)).toBe(true);
  });

  it('dig agrees: +notcp +ignore sees tc, +tcp gets 100 records, plain dig retries over TCP', async () => {
    const truncated = await dig(main.udpPort, 'big.mesh.local', 'A', ['+notcp', '+ignore']);
    expect(truncated).toMatchObject({ status: 'NOERROR', answerCount: 0, transport: 'UDP' });
    // RA is not asserted: it depends on whether recursion is offered to this client, not on size.
    expect(truncated.flags).toEqual(expect.arrayContaining(['aa', 'qr', 'rd', 'tc']));

    const overTcp = await dig(main.tcpPort, 'big.mesh.local', 'A', ['+tcp']);
    expect(overTcp).toMatchObject({ status: 'NOERROR', answerCount: 100, transport: 'TCP' });
    expect(overTcp.flags).toEqual(expect.arrayContaining(['aa', 'qr', 'rd']));
    expect(overTcp.flags).not.toContain('tc');
    expect(overTcp.answers.map((line) => line.split(' ').at(-1)).sort()).toEqual([...BIG_ADDRESSES].sort());

    const retried = await dig(main.udpPort, 'big.mesh.local', 'A', []);
    expect(retried).toMatchObject({ status: 'NOERROR', answerCount: 100, transport: 'TCP' });
  });
});
