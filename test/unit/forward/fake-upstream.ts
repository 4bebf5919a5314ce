import { afterEach, beforeEach, expect } from 'vitest';
// A small DNS server on 127.0.0.1 (UDP and TCP on the same port) for the faults no real server
// can be made to produce on demand: never answering, answering with a wrong ID or question, from
// a wrong port, TC then TCP, slowly, out of order, closing TCP mid-frame. Answers that a real
// server gives are tested against real servers in test/integration.

import dgram from 'node:dgram';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { UpstreamAddress, UpstreamQuery } from '../../../src/forward/types.ts';
import { upstreamName } from '../../../src/forward/types.ts';
import { RRClass, RRType } from '../../../src/wire/constants.ts';
import { parseRequest, type EdnsInfo } from '../../../src/wire/request.ts';
import { encodeName } from '../../support/dns-messages.ts';

export interface ReceivedQuery {
  transport: 'udp' | 'tcp';
  message: Buffer;
  id: number;
  flags: number;
  qname: string;
  qtype: number;
  qclass: number;
  /** The question section as received (name + type + class). */
  question: Buffer;
  edns: EdnsInfo | null;
  /** UDP: the client's source port. TCP: the index of the connection (0, 1, …). */
  source: number;
}

export type Reply = (message: Buffer) => void;
export interface UdpContext {
  socket: dgram.Socket;
  rinfo: dgram.RemoteInfo;
}
export interface TcpContext {
  socket: net.Socket;
  connection: number;
  /** Writes a DNS message with its 2-byte length prefix. */
  writeFrame: (message: Buffer) => void;
}
export type UdpHandler = (query: ReceivedQuery, reply: Reply, context: UdpContext) => void;
export type TcpHandler = (query: ReceivedQuery, reply: Reply, context: TcpContext) => void;

export interface FakeUpstream {
  address: UpstreamAddress;
  /** "127.0.0.1:port", the forwarder's name for it. */
  name: string;
  port: number;
  queries: ReceivedQuery[];
  /** Queries other than the `. NS` health probe. */
  clientQueries(): ReceivedQuery[];
  probes(): ReceivedQuery[];
  tcpConnectionsAccepted(): number;
  onUdp(handler: UdpHandler): void;
  onTcp(handler: TcpHandler): void;
  close(): Promise<void>;
}

export const answerNow: UdpHandler & TcpHandler = (query, reply) => reply(answerFor(query));
export const neverAnswer: UdpHandler & TcpHandler = () => {};

export async function startFakeUpstream(handlers: { udp?: UdpHandler; tcp?: TcpHandler } = {}): Promise<FakeUpstream> {
  let udpHandler = handlers.udp ?? answerNow;
  let tcpHandler = handlers.tcp ?? answerNow;
  const queries: ReceivedQuery[] = [];
  const sockets = new Set<net.Socket>();
  let accepted = 0;

  const onUdpMessage = (socket: dgram.Socket) => (message: Buffer, rinfo: dgram.RemoteInfo) => {
    const query = parse(message, 'udp', rinfo.port);
    if (!query) return;
    queries.push(query);
    udpHandler(query, (reply) => socket.send(reply, rinfo.port, rinfo.address), { socket, rinfo });
  };
  const onTcpConnection = (socket: net.Socket) => {
    const connection = accepted++;
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const writeFrame = (message: Buffer) => {
      if (socket.destroyed) return;
      const length = Buffer.alloc(2);
      length.writeUInt16BE(message.length);
      socket.write(Buffer.concat([length, message]));
    };
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        const message = buffered.subarray(2, 2 + buffered.readUInt16BE(0));
        buffered = buffered.subarray(2 + message.length);
        const query = parse(Buffer.from(message), 'tcp', connection);
        if (!query) continue;
        queries.push(query);
        tcpHandler(query, writeFrame, { socket, connection, writeFrame });
      }
    });
  };

  // UDP and TCP on one port: bind UDP to an ephemeral port, then try TCP on it; retry on a clash.
  for (let attempt = 0; attempt < 20; attempt++) {
    const udp = dgram.createSocket('udp4');
    udp.on('message', onUdpMessage(udp));
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
    const port = (udp.address() as AddressInfo).port;
    const server = net.createServer(onTcpConnection);
    const listening = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen({ port, host: '127.0.0.1', exclusive: true }, () => resolve(true));
    });
    if (!listening) {
      udp.close();
      continue;
    }
    const address: UpstreamAddress = { host: '127.0.0.1', port, family: 'ipv4' };
    return {
      address,
      name: upstreamName(address),
      port,
      queries,
      clientQueries: () => queries.filter((query) => !isHealthProbe(query)),
      probes: () => queries.filter(isHealthProbe),
      tcpConnectionsAccepted: () => accepted,
      onUdp(handler) {
        udpHandler = handler;
      },
      onTcp(handler) {
        tcpHandler = handler;
      },
      async close() {
        for (const socket of sockets) socket.destroy();
        await Promise.all([
          new Promise<void>((resolve) => udp.close(() => resolve())),
          new Promise<void>((resolve) => server.close(() => resolve())),
        ]);
      },
    };
  }
  throw new Error('could not bind UDP and TCP on one port');
}

function isHealthProbe(query: ReceivedQuery): boolean {
  return query.qname === '' && query.qtype === RRType.NS;
}

function parse(message: Buffer, transport: 'udp' | 'tcp', source: number): ReceivedQuery | null {
  const parsed = parseRequest(message);
  if (!parsed.ok) return null;
  const { request } = parsed;
  return {
    transport,
    message,
    id: request.id,
    flags: request.flags,
    qname: request.qname,
    qtype: request.qtype,
    qclass: request.qclass,
    question: Buffer.from(message.subarray(12, request.questionEnd)),
    edns: request.edns,
    source,
  };
}

export interface AnswerOptions {
  /** ID to answer with instead of the query's. */
  id?: number;
  rcode?: number;
  tc?: boolean;
  /** Question name to put in the answer instead of the query's. */
  name?: string;
  qtype?: number;
  qclass?: number;
  /** The A record's address; default derived from nothing: 192.0.2.1. */
  address?: string;
  /** Number of A records (to make answers large). */
  count?: number;
  ttl?: number;
}

/** A response to `query`: header, question (echoed or replaced), A records, and an OPT if the query had one. */
export function answerFor(query: ReceivedQuery, options: AnswerOptions = {}): Buffer {
  const question = options.name === undefined && options.qtype === undefined && options.qclass === undefined
    ? query.question
    : Buffer.concat([encodeName(options.name ?? query.qname), typeAndClass(options.qtype ?? query.qtype, options.qclass ?? query.qclass)]);
  const records: Buffer[] = [];
  const count = options.tc ? 0 : options.count ?? 1;
  for (let i = 0; i < count; i++) {
    const record = Buffer.alloc(16);
    record.writeUInt16BE(0xc00c, 0); // owner: the question name
    record.writeUInt16BE(RRType.A, 2);
    record.writeUInt16BE(RRClass.IN, 4);
    record.writeUInt32BE(options.ttl ?? 300, 6);
    record.writeUInt16BE(4, 10);
    const octets = (options.address ?? '192.0.2.1').split('.').map(Number);
    octets[3] = (octets[3]! + i) & 0xff;
    Buffer.from(octets).copy(record, 12);
    records.push(record);
  }
  const opt = query.edns ? Buffer.from([0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]) : Buffer.alloc(0);
  const header = Buffer.alloc(12);
  header.writeUInt16BE(options.id ?? query.id, 0);
  // QR, opcode 0, RD echoed, RA, TC as asked, rcode.
  header.writeUInt16BE(0x8000 | (query.flags & 0x0110) | 0x0080 | (options.tc ? 0x0200 : 0) | ((options.rcode ?? 0) & 0xf), 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(records.length, 6);
  header.writeUInt16BE(0, 8);
  header.writeUInt16BE(query.edns ? 1 : 0, 10);
  return Buffer.concat([header, question, ...records, opt]);
}

function typeAndClass(qtype: number, qclass: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt16BE(qtype, 0);
  out.writeUInt16BE(qclass, 2);
  return out;
}

/** The first A record's address in a response built by answerFor (or any with the same layout). */
export function firstAddress(response: Buffer): string {
  const questionEnd = 12 + encodedNameLength(response, 12) + 4;
  return [...response.subarray(questionEnd + 12, questionEnd + 16)].join('.');
}

function encodedNameLength(message: Buffer, offset: number): number {
  let position = offset;
  while (message[position]! !== 0) position += message[position]! + 1;
  return position + 1 - offset;
}

/** A query for the forwarder, as the query path would build it from a client's request. */
export function upstreamQuery(name: string, options: { qtype?: number; dnssecOk?: boolean; checkingDisabled?: boolean; recursionDesired?: boolean } = {}): UpstreamQuery {
  const qtype = options.qtype ?? RRType.A;
  return {
    qname: name.toLowerCase().replace(/\.$/, ''),
    question: Buffer.concat([encodeName(name), typeAndClass(qtype, RRClass.IN)]),
    qtype,
    qclass: RRClass.IN,
    recursionDesired: options.recursionDesired ?? true,
    dnssecOk: options.dnssecOk ?? false,
    checkingDisabled: options.checkingDisabled ?? false,
  };
}

/** Sockets and servers of this process, by kind, to check that a test left none open. */
export function openHandles(): Record<string, number> {
  const counts: Record<string, number> = { UDPWrap: 0, TCPSocketWrap: 0, TCPServerWrap: 0 };
  for (const resource of process.getActiveResourcesInfo()) {
    if (resource in counts) counts[resource]! += 1;
  }
  return counts;
}

/** Waits (up to 2 s) until the open handles are back to `baseline`; returns what remains. */
export async function settledHandles(baseline: Record<string, number>): Promise<Record<string, number>> {
  const deadline = Date.now() + 2000;
  for (;;) {
    const now = openHandles();
    if (JSON.stringify(now) === JSON.stringify(baseline) || Date.now() > deadline) return now;
    await sleep(10);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` every 10 ms until true or `timeoutMs` passes; returns whether it became true. */
export async function waitFor(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await sleep(10);
  }
  return true;
}

/**
 * Registers the hooks every socket test here needs: after each test, `closeFirst` (the things
 * under test), then every fake upstream pushed onto the returned list is closed, and no socket,
 * server or timer of ours may be left open. Call at file or describe level.
 */
export function closeFakesAndCheckHandles(closeFirst: () => void = () => {}): FakeUpstream[] {
  const fakes: FakeUpstream[] = [];
  let baseline: Record<string, number> = {};
  beforeEach(() => {
    baseline = openHandles();
  });
  afterEach(async () => {
    closeFirst();
    await Promise.all(fakes.splice(0).map((fake) => fake.close()));
    expect(await settledHandles(baseline)).toEqual(baseline);
  });
  return fakes;
}
