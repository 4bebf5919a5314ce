// Reused response buffers (src/listeners/udp-response-buffers.ts) under queued UDP sends, and
// over TCP, where the listener frames answers assembled in them (src/listeners/tcp-answer-frames.ts).
// UDP: The real
// server runs with Node's --test-udp-no-try-send: every send goes through libuv's send queue, so
// within a batch of datagrams read in one go, each answer after the first waits in the queue
// while the next ones are assembled. Bursts of queries whose answers all have the same length
// (the case a per-length buffer would share) must each come back with their own ID, question and
// address: a buffer reused while queued would send one answer's bytes for another.

import dgram from 'node:dgram';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMeshDnsProcess, type MeshDnsProcess } from '../support/mesh-dns.ts';
import { buildQuery, decode } from '../support/dns-messages.ts';

const NAMES = 400;
const name = (index: number) => `h${String(index).padStart(3, '0')}.mesh.local`;
const address = (index: number) => `10.9.${index >> 8}.${index & 0xff}`;

const RECORDS = Array.from({ length: NAMES }, (_, index) => `    - { name: h${String(index).padStart(3, '0')}, type: A, value: ${address(index)} }`).join('\n');
const CONFIG = `
zone:
  name: mesh.local
  records:
${RECORDS}
registry:
  url: ""
`;

let server: MeshDnsProcess;

beforeAll(async () => {
  server = await startMeshDnsProcess({ configYaml: CONFIG, nodeFlags: ['--test-udp-no-try-send'] });
}, 30_000);

afterAll(async () => {
  await server?.stop();
});

/** Sends `count` queries at once from one socket; resolves with the answers back within `timeoutMs`, by ID, and how many repeated an ID. */
function burst(port: number, first: number, count: number, timeoutMs = 3000): Promise<{ answers: Map<number, Buffer>; repeated: number }> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    const answers = new Map<number, Buffer>();
    let repeated = 0;
    const done = () => {
      clearTimeout(timer);
      socket.close();
      resolve({ answers, repeated });
    };
    const timer = setTimeout(done, timeoutMs);
    socket.on('error', reject);
    socket.on('message', (message) => {
      const id = message.readUInt16BE(0);
      if (answers.has(id)) repeated++;
      answers.set(id, message);
      if (answers.size === count) done();
    });
    socket.bind(0, '127.0.0.1', () => {
      for (let index = first; index < first + count; index++) socket.send(buildQuery({ id: index, name: name(index), type: 'A' }), port, '127.0.0.1');
    });
  });
}

/**
 * Sends one query per socket from `clients` sockets (each its own source port) all at once, the
 * query of socket k for name(first + k) with ID first + k; resolves with, per socket, the answers
 * that socket received.
 */
async function fromManyClients(port: number, first: number, clients: number, timeoutMs = 3000): Promise<Buffer[][]> {
  const sockets = await Promise.all(
    Array.from({ length: clients }, () => new Promise<dgram.Socket>((resolve) => {
      const socket = dgram.createSocket('udp4');
      socket.bind(0, '127.0.0.1', () => resolve(socket));
    })),
  );
  const received: Buffer[][] = sockets.map(() => []);
  let answered = 0;
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      for (const socket of sockets) socket.close();
      resolve(received);
    };
    const timer = setTimeout(done, timeoutMs);
    sockets.forEach((socket, k) => {
      socket.on('message', (message) => {
        received[k]!.push(message);
        if (++answered === clients) done();
      });
    });
    sockets.forEach((socket, k) => socket.send(buildQuery({ id: first + k, name: name(first + k), type: 'A' }), port, '127.0.0.1'));
  });
}

describe('UDP listener: reused response buffers while sends are queued', () => {
  it('answers bursts of same-length answers each with its own bytes', async () => {
    let received = 0;
    for (let first = 0; first < NAMES; first += 50) {
      const { answers, repeated } = await burst(server.dnsPort, first, 50);
      // One answer's bytes sent twice (its buffer rewritten while queued) shows as a repeated ID.
      expect(repeated, `burst from ${first}`).toBe(0);
      for (const [id, message] of answers) {
        const decoded = decode(message);
        expect(decoded.questions[0]?.name, `answer with ID ${id}`).toBe(name(id));
        expect(decoded.answers.map((record) => record.address)).toEqual([address(id)]);
      }
      received += answers.size;
    }
    // Loopback loses nothing at this rate; a few lost answers would not hide a wrong one above.
    expect(received).toBeGreaterThan(NAMES * 0.9);
  }, 30_000);

  it('sends each answer to the client and port that asked, with its ID, many clients at once', async () => {
    let answered = 0;
    for (let first = 0; first < NAMES; first += 100) {
      const received = await fromManyClients(server.dnsPort, first, 100);
      received.forEach((answers, k) => {
        // Another client's answer here (a destination mixed up while sends are queued) would show
        // as a second answer, or as the wrong ID and name.
        expect(answers.length, `client ${first + k}`).toBeLessThanOrEqual(1);
        for (const message of answers) {
          expect(message.readUInt16BE(0), `client ${first + k}`).toBe(first + k);
          const decoded = decode(message);
          expect(decoded.questions[0]?.name).toBe(name(first + k));
          expect(decoded.answers.map((record) => record.address)).toEqual([address(first + k)]);
        }
        answered += answers.length;
      });
    }
    expect(answered).toBeGreaterThan(NAMES * 0.9);
  }, 30_000);
});

/**
 * Opens `connections` TCP connections, writes on each (in one write, pipelined) the queries for
 * names[k] with ID = their index, then reads every connection until each has all its answers.
 */
async function pipelinedOverTcp(port: number, perConnection: number[][], timeoutMs = 5000): Promise<Buffer[][]> {
  const sockets = await Promise.all(perConnection.map(() => new Promise<net.Socket>((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
    socket.on('error', reject);
  })));
  const received: Buffer[][] = sockets.map(() => []);
  await Promise.all(sockets.map((socket, k) => new Promise<void>((resolve) => {
    let pending = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      resolve();
    }, timeoutMs);
    socket.on('data', (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        received[k]!.push(pending.subarray(2, 2 + pending.readUInt16BE(0)));
        pending = pending.subarray(2 + pending.readUInt16BE(0));
      }
      if (received[k]!.length === perConnection[k]!.length) {
        clearTimeout(timer);
        socket.destroy();
        resolve();
      }
    });
    const queries = perConnection[k]!.map((index) => {
      const query = buildQuery({ id: index, name: name(index), type: 'A' });
      const framed = Buffer.alloc(2 + query.length);
      framed.writeUInt16BE(query.length, 0);
      query.copy(framed, 2);
      return framed;
    });
    socket.write(Buffer.concat(queries));
  })));
  return received;
}

describe('TCP listener: answers assembled in reused buffers', () => {
  it('answers 400 pipelined queries with same-length answers on 4 connections at once, each with its own bytes on its own connection', async () => {
    // Connection k asks every 4th name from k: interleaved reads of four connections share the
    // listener's framing buffer and the per-length answer buffers.
    const perConnection = Array.from({ length: 4 }, (_, k) => Array.from({ length: NAMES / 4 }, (_, j) => k + 4 * j));
    const received = await pipelinedOverTcp(server.dnsPort, perConnection);
    received.forEach((answers, k) => {
      expect(answers.length, `connection ${k}`).toBe(NAMES / 4);
      const ids = answers.map((message) => message.readUInt16BE(0));
      // Each answer once, on the connection that asked (another connection's answer, or one
      // answer's bytes framed twice, shows here).
      expect(new Set(ids).size, `connection ${k}`).toBe(ids.length);
      expect([...ids].sort((a, b) => a - b)).toEqual(perConnection[k]);
      for (const message of answers) {
        const id = message.readUInt16BE(0);
        const decoded = decode(message);
        expect(decoded.questions[0]?.name, `answer with ID ${id}`).toBe(name(id));
        expect(decoded.answers.map((record) => record.address)).toEqual([address(id)]);
      }
    });
  }, 30_000);
});
