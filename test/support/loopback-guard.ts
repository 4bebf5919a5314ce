// Vitest setup: tests may only talk to loopback (127.0.0.0/8, ::1). Sockets opened in the test
// process throw on any other destination, so a mistake fails the test instead of sending traffic
// off the machine. Child processes get test/support/resolv.conf instead (see mesh-dns.ts).

import dgram from 'node:dgram';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

export const TEST_RESOLV_CONF = fileURLToPath(new URL('./resolv.conf', import.meta.url));
process.env.MESH_DNS_RESOLV_CONF = TEST_RESOLV_CONF;

function isLoopback(host: unknown): boolean {
  if (typeof host !== 'string' || host === '' || host === 'localhost') return true; // '' = default, loopback for dgram
  if (net.isIPv4(host)) return host.startsWith('127.');
  if (net.isIPv6(host)) return host === '::1' || /^::ffff:127\./i.test(host);
  return false; // names: tests use IP literals only
}

function guard(host: unknown, what: string): void {
  if (!isLoopback(host)) throw new Error(`test traffic must stay on loopback: ${what} to ${String(host)}`);
}

const originalSend = dgram.Socket.prototype.send;
dgram.Socket.prototype.send = function guardedSend(this: dgram.Socket, ...args: unknown[]) {
  // send(msg, [offset, length,] port, address, cb): the address is the first string argument.
  const address = args.slice(1).find((value) => typeof value === 'string');
  guard(address, 'UDP send');
  return (originalSend as (...parameters: unknown[]) => void).apply(this, args);
} as typeof dgram.Socket.prototype.send;

const originalDgramConnect = dgram.Socket.prototype.connect;
dgram.Socket.prototype.connect = function guardedConnect(this: dgram.Socket, ...args: unknown[]) {
  guard(typeof args[1] === 'string' ? args[1] : '', 'UDP connect');
  return (originalDgramConnect as (...parameters: unknown[]) => void).apply(this, args);
} as typeof dgram.Socket.prototype.connect;

const originalNetConnect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function guardedConnect(this: net.Socket, ...args: unknown[]) {
  const first = args[0];
  const options = Array.isArray(first) ? first[0] : first;
  if (typeof options === 'object' && options !== null && 'port' in options) guard((options as { host?: string }).host ?? '', 'TCP connect');
  else if (typeof args[1] === 'string') guard(args[1], 'TCP connect');
  return (originalNetConnect as (...parameters: unknown[]) => net.Socket).apply(this, args);
} as typeof net.Socket.prototype.connect;
