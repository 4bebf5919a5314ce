// Listen addresses ("127.0.0.1:1053", "[::1]:1053") and the errors binding them can raise.

import net from 'node:net';
import type { AddressFamily } from '../pipeline/types.ts';

export interface ListenAddress {
  host: string;
  port: number;
  family: AddressFamily;
}

/** Parses "host:port" / "[v6]:port"; returns null when it is not one. */
export function parseListenAddress(text: string): ListenAddress | null {
  const match = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:\[\]]+):(\d{1,5})$/.exec(text);
  if (!match) return null;
  const host = match[1]!;
  const port = Number(match[2]);
  if (port > 65535) return null;
  const version = net.isIP(host);
  if (version === 0) return null;
  return { host, port, family: version === 6 ? 'ipv6' : 'ipv4' };
}

export function formatListenAddress(address: { host: string; port: number; family: AddressFamily }): string {
  return address.family === 'ipv6' ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

/** Raised when a listener cannot bind; `ipv6Unavailable` lets the caller degrade to IPv4 only. */
export class ListenError extends Error {
  readonly code: string;
  readonly ipv6Unavailable: boolean;

  constructor(protocol: 'UDP' | 'TCP' | 'HTTP', address: ListenAddress, cause: NodeJS.ErrnoException) {
    const where = `${protocol} ${formatListenAddress(address)}`;
    const code = cause.code ?? 'UNKNOWN';
    const reason =
      code === 'EADDRINUSE' ? 'the port is already in use by another process'
      : code === 'EACCES' ? 'permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)'
      : code === 'EADDRNOTAVAIL' ? 'no local interface has that address'
      : code === 'EAFNOSUPPORT' ? 'the address family is not supported on this host'
      : cause.message;
    super(`cannot listen on ${where}: ${reason} (${code})`, { cause });
    this.name = 'ListenError';
    this.code = code;
    this.ipv6Unavailable = address.family === 'ipv6' && (code === 'EADDRNOTAVAIL' || code === 'EAFNOSUPPORT' || code === 'EINVAL');
  }
}
