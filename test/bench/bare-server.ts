/*
 * The reference server of the bench: the floor for a DNS server written on Node on this machine.
 * It does the least work any Node DNS server must do and nothing else: read the question name,
 * look the lowercased question up in a map of precompiled replies, copy the reply, patch in the
 * ID and the client's question bytes (0x20 case), send. No EDNS validation, no metrics, no ACL.
 * The send goes to the client's source address, a literal, without dgram's per-send dns.lookup
 * (the same synchronous `lookup` as mesh-dns's UDP listener): until 2026-12-03 the floor resolved
 * it (defaultLookup, isIPv4, afterDns, a nextTick per answer: ~3% of its busy samples), which a
 * floor must not spend where mesh-dns does not.
 * Names it does not know get a precompiled NXDOMAIN (no SOA). A request carrying records in
 * ADDITIONAL (an OPT) gets a reply with a fixed OPT (payload 1232) appended.
 *
 *   node test/bench/bare-server.ts --port P --records FILE.json   (FILE: [{ "name": "a.b", "ipv4": "10.0.0.1" }, …])
 *
 * UDP and TCP (RFC 7766 length-prefixed, pipelined) on 127.0.0.1:P. Used by run.ts as `bare`.
 */
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { port: { type: 'string' }, records: { type: 'string' }, ttl: { type: 'string' } } });
const port = Number(values.port);
const ttl = Number(values.ttl ?? 5);
const records = JSON.parse(readFileSync(values.records!, 'utf8')) as { name: string; ipv4: string }[];

const OPT = Buffer.from([0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);

function questionBytes(name: string, qtype: number): Buffer {
  const parts: Buffer[] = [];
  for (const label of name.split('.')) parts.push(Buffer.from([label.length]), Buffer.from(label, 'ascii'));
  parts.push(Buffer.from([0, qtype >> 8, qtype & 0xff, 0, 1]));
  return Buffer.concat(parts);
}

/** Reply = header + question + answer (+ OPT): index 0 without OPT, 1 with. */
function reply(question: Buffer, ipv4: string | null, withOpt: boolean): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(0x8400 | (ipv4 ? 0 : 3), 2); // QR AA, NOERROR or NXDOMAIN (RD patched per query)
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(ipv4 ? 1 : 0, 6);
  header.writeUInt16BE(withOpt ? 1 : 0, 10);
  const answer = ipv4 ? Buffer.from([0xc0, 12, 0, 1, 0, 1, ttl >>> 24, (ttl >> 16) & 0xff, (ttl >> 8) & 0xff, ttl & 0xff, 0, 4, ...ipv4.split('.').map(Number)]) : Buffer.alloc(0);
  return Buffer.concat([header, question, answer, withOpt ? OPT : Buffer.alloc(0)]);
}

const replies = new Map<string, [Buffer, Buffer]>();
for (const r of records) {
  const q = questionBytes(r.name.toLowerCase(), 1);
  replies.set(q.toString('latin1'), [reply(q, r.ipv4, false), reply(q, r.ipv4, true)]);
}

/** The reply for the query in message[offset, offset+length), or null to drop it. */
function answer(message: Buffer, offset: number, length: number): Buffer | null {
  if (length < 17) return null;
  let position = offset + 12;
  const end = offset + length;
  while (position < end && message[position] !== 0) position += message[position]! + 1;
  const questionEnd = position + 5;
  if (questionEnd > end) return null;
  const key = message.toString('latin1', offset + 12, questionEnd).toLowerCase();
  const withOpt = message[offset + 11] !== 0 ? 1 : 0;
  let pair = replies.get(key);
  if (!pair) {
    const q = message.subarray(offset + 12, questionEnd);
    pair = [reply(q, null, false), reply(q, null, true)];
  }
  const template = pair[withOpt]!;
  const out = Buffer.allocUnsafe(template.length);
  template.copy(out);
  out[0] = message[offset]!;
  out[1] = message[offset + 1]!;
  out[2] = out[2]! | (message[offset + 2]! & 0x01); // echo RD
  message.copy(out, 12, offset + 12, questionEnd);
  return out;
}

const literalAddressLookup = (address: string, _family: unknown, callback: (error: Error | null, address: string, family: number) => void): void => {
  callback(null, address, 4);
};
const udp = dgram.createSocket({ type: 'udp4', lookup: literalAddressLookup });
udp.on('message', (message, rinfo) => {
  const out = answer(message, 0, message.length);
  if (out) udp.send(out, rinfo.port, rinfo.address);
});
udp.bind({ port, address: '127.0.0.1', exclusive: true }, () => udp.setRecvBufferSize(4 * 1024 * 1024));

net.createServer((socket) => {
  socket.setNoDelay(true);
  let pending: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    let data = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    let position = 0;
    const outs: Buffer[] = [];
    while (data.length - position >= 2) {
      const length = data.readUInt16BE(position);
      if (data.length - position - 2 < length) break;
      const out = answer(data, position + 2, length);
      if (out) {
        const prefix = Buffer.allocUnsafe(2);
        prefix.writeUInt16BE(out.length);
        outs.push(prefix, out);
      }
      position += 2 + length;
    }
    pending = position < data.length ? data.subarray(position) : Buffer.alloc(0);
    data = pending;
    if (outs.length) socket.write(Buffer.concat(outs));
  });
  socket.on('error', () => socket.destroy());
}).listen({ port, host: '127.0.0.1' });

// The bench stops servers with SIGTERM; exiting through process.exit lets --cpu-prof write its profile.
process.on('SIGTERM', () => process.exit(0));
