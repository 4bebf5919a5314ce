// Shared by the registry-side benches (registry-scale.ts, memory.ts): load the REAL registry with
// agents, ask mesh-dns over UDP on loopback, read a process's RSS.

import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { agentBody, type TestRegistry } from '../support/registry.ts';

/** One A query over UDP; resolves with the sorted addresses (or [] on NXDOMAIN). Loopback only. */
export function queryA(port: number, name: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    const id = Math.floor(Math.random() * 0xffff);
    const labels = name.split('.').map((label) => Buffer.concat([Buffer.from([label.length]), Buffer.from(label)]));
    const query = Buffer.concat([Buffer.from([id >> 8, id & 0xff, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), ...labels, Buffer.from([0, 0, 1, 0, 1])]);
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error('timeout'));
    }, 1000);
    socket.on('message', (message) => {
      clearTimeout(timer);
      socket.close();
      const answers = message.readUInt16BE(6);
      const addresses: string[] = [];
      let offset = query.length;
      for (let index = 0; index < answers; index++) {
        offset += 2; // compressed owner (pointer to the question)
        const type = message.readUInt16BE(offset);
        const length = message.readUInt16BE(offset + 8);
        if (type === 1) addresses.push([...message.subarray(offset + 10, offset + 14)].join('.'));
        offset += 10 + length;
      }
      resolve(addresses.sort());
    });
    socket.send(query, port, '127.0.0.1');
  });
}

export async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < timeoutMs) {
    if (await check().catch(() => false)) return performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`not seen within ${timeoutMs} ms`);
}

export function rssOf(pid: number): { rssMiB: number; hwmMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rssMiB: kib('VmRSS') / 1024, hwmMiB: kib('VmHWM') / 1024 };
}

/** Registers agent-<from> … agent-<count - 1> (32 heartbeats in flight). */
export async function registerMany(registry: TestRegistry, count: number, from = 0): Promise<void> {
  let next = from;
  const worker = async () => {
    while (next < count) {
      const index = next++;
      const host = `10.${(index >> 16) & 0xff}.${(index >> 8) & 0xff}.${index & 0xff}`;
      await registry.heartbeat(agentBody(`agent-${String(index).padStart(5, '0')}-00000000`.slice(0, 20), `agent-${index}`, host, 8000, [
        { capability: `cap_${index % 50}` },
        { capability: `tool_${index % 7}` },
      ]));
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
}

