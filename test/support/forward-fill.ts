// Fills a server's answer cache with distinct forwarded names: the memory bench and the memory
// test's burst (issue 9 item 4) send the same load. Loopback only.

import dgram from 'node:dgram';
import type { KnotZone } from './knot.ts';

/** The zone fillCache's names are answered from: every name under example.test has an A record. */
export const WILDCARD_TEST_ZONE: KnotZone = {
  origin: 'example.test',
  text: '$TTL 3600\n@ SOA ns hostmaster 1 3600 600 86400 60\n@ NS ns\nns A 192.0.2.53\n* A 192.0.2.1\n',
};

/**
 * Sends `count` distinct A queries (h-<i>.example.test) to 127.0.0.1:`port` with at most `window`
 * outstanding; returns how many came back NOERROR with an answer.
 */
export async function fillCache(port: number, count: number, window = 256): Promise<number> {
  const socket = dgram.createSocket('udp4');
  const pending = new Map<number, () => void>();
  let answered = 0;
  socket.on('message', (message) => {
    const done = pending.get(message.readUInt16BE(0));
    if (!done) return;
    if ((message[3]! & 0x0f) === 0 && message.readUInt16BE(6) > 0) answered++;
    done();
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const index = next++;
      const id = index & 0xffff;
      const labels = [`h-${index}`, 'example', 'test'].map((label) => Buffer.concat([Buffer.from([label.length]), Buffer.from(label)]));
      const query = Buffer.concat([Buffer.from([id >> 8, id & 0xff, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), ...labels, Buffer.from([0, 0, 1, 0, 1])]);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          resolve();
        }, 2000);
        pending.set(id, () => {
          clearTimeout(timer);
          pending.delete(id);
          resolve();
        });
        socket.send(query, port, '127.0.0.1');
      });
    }
  };
  await Promise.all(Array.from({ length: window }, worker));
  socket.close();
  return answered;
}
