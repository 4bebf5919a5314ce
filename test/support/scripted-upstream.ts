// A tiny UDP "upstream" on 127.0.0.1 whose every answer is scripted by the test: for the cases a
// real server will not produce (answers with the wrong ID or question, answers from another
// address or port, answers that take 300 ms) and for counting exactly what reached it.
//
// The handler gets each query (ID, question bytes, lowercased name) and a `reply` with three
// senders: from the server's own socket, from another port on 127.0.0.1, and from 127.0.0.2 on the
// server's own port (same port, wrong address). Builders make the answers; tests choose which to
// send and when.

import dgram from 'node:dgram';
import { encodeName } from './dns-messages.ts';

export interface ScriptedQuery {
  id: number;
  /** Lowercased presentation name without the trailing dot ('' for the root). */
  qname: string;
  qtype: number;
  /** The question section as received (name, type, class), case kept. */
  question: Buffer;
  rd: boolean;
}

export interface ScriptedReply {
  /** From the socket the query reached (the only source a client should accept). */
  send(message: Buffer): void;
  /** From another socket on 127.0.0.1 (right address, wrong port). */
  sendFromOtherPort(message: Buffer): void;
  /** From 127.0.0.2 on the server's own port (right port, wrong address). */
  sendFromOtherAddress(message: Buffer): void;
}

export interface ScriptedUpstream {
  port: number;
  /** Queries received for `qname` (lowercased, no trailing dot), or all of them. */
  queryCount(qname?: string): number;
  stop(): Promise<void>;
}

export type ScriptedHandler = (query: ScriptedQuery, reply: ScriptedReply) => void;

/** Reads the question of a query; null for anything that is not a one-question query. */
function parseQuery(message: Buffer): ScriptedQuery | null {
  if (message.length < 12 || (message.readUInt16BE(2) & 0x8000) !== 0 || message.readUInt16BE(4) !== 1) return null;
  const labels: string[] = [];
  let position = 12;
  for (;;) {
    const length = message[position];
    if (length === undefined || length > 63) return null;
    position++;
    if (length === 0) break;
    labels.push(message.toString('latin1', position, position + length).toLowerCase());
    position += length;
  }
  if (position + 4 > message.length) return null;
  return {
    id: message.readUInt16BE(0),
    qname: labels.join('.'),
    qtype: message.readUInt16BE(position),
    question: Buffer.from(message.subarray(12, position + 4)),
    rd: (message.readUInt16BE(2) & 0x0100) !== 0,
  };
}

export interface AnswerOptions {
  /** Another ID than the query's. */
  id?: number;
  /** Another question section than the query's (e.g. from questionFor). */
  question?: Buffer;
  ttl?: number;
}

/** A question section (name, type A unless given, class IN) for `name`. */
export function questionFor(name: string, type = 1): Buffer {
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(type, 0);
  tail.writeUInt16BE(1, 2);
  return Buffer.concat([encodeName(name), tail]);
}

/**
 * A NOERROR response with one A record (owner: a pointer to the question), QR, RD as asked, RA;
 * `options` make it wrong on purpose.
 */
export function answerA(query: ScriptedQuery, address: string, options: AnswerOptions = {}): Buffer {
  const question = options.question ?? query.question;
  const header = Buffer.alloc(12);
  header.writeUInt16BE(options.id ?? query.id, 0);
  header.writeUInt16BE(0x8000 | (query.rd ? 0x0100 : 0) | 0x0080, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(1, 6);
  const record = Buffer.alloc(16);
  record.writeUInt16BE(0xc00c, 0); // the owner is the question name
  record.writeUInt16BE(1, 2); // A
  record.writeUInt16BE(1, 4); // IN
  record.writeUInt32BE(options.ttl ?? 60, 6);
  record.writeUInt16BE(4, 10);
  Buffer.from(address.split('.').map(Number)).copy(record, 12);
  return Buffer.concat([header, question, record]);
}

function bind(socket: dgram.Socket, port: number, address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, address, () => {
      socket.off('error', reject);
      resolve(socket.address().port);
    });
  });
}

function close(socket: dgram.Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve(); // already closed
    }
  });
}

export async function startScriptedUpstream(handler: ScriptedHandler): Promise<ScriptedUpstream> {
  const server = dgram.createSocket('udp4');
  const otherPort = dgram.createSocket('udp4');
  const otherAddress = dgram.createSocket('udp4');
  const sockets = [server, otherPort, otherAddress];
  try {
    const port = await bind(server, 0, '127.0.0.1');
    await bind(otherPort, 0, '127.0.0.1');
    // Same port, another loopback address: only a check of the source address can tell it apart.
    await bind(otherAddress, port, '127.0.0.2');
    const counts = new Map<string, number>();
    let total = 0;
    server.on('message', (message, from) => {
      const query = parseQuery(message);
      if (!query) return;
      total++;
      counts.set(query.qname, (counts.get(query.qname) ?? 0) + 1);
      const to = (socket: dgram.Socket) => (reply: Buffer) => socket.send(reply, from.port, from.address);
      handler(query, { send: to(server), sendFromOtherPort: to(otherPort), sendFromOtherAddress: to(otherAddress) });
    });
    let stopping: Promise<void> | null = null;
    return {
      port,
      queryCount: (qname) => (qname === undefined ? total : counts.get(qname) ?? 0),
      stop() {
        stopping ??= Promise.all(sockets.map(close)).then(() => undefined);
        return stopping;
      },
    };
  } catch (error) {
    await Promise.all(sockets.map(close));
    throw error;
  }
}
