// Parsers for config values. Each returns the parsed value or throws ConfigValueError with a
// reason; load.ts adds the file (or environment variable) and the key.

import ipaddr from 'ipaddr.js';
import { parseListenAddress, type ListenAddress } from '../listeners/address.ts';

export class ConfigValueError extends Error {
  override name = 'ConfigValueError';
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "60s", "5m", "1.5h", "250ms", or a bare number of seconds (MCP Mesh's own env style). */
export function parseDurationMs(value: unknown): number {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return Math.round(value * 1000);
  const match = typeof value === 'string' ? DURATION.exec(value.trim()) : null;
  if (!match) throw new ConfigValueError(`${JSON.stringify(value)} is not a duration (use 250ms, 30s, 5m, 1h, or a number of seconds)`);
  return Math.round(Number(match[1]) * UNIT_MS[match[2] ?? 's']!);
}

/** A duration used as a DNS TTL: whole seconds within RFC 2181 §8's 2^31 − 1. */
export function parseTtlSeconds(value: unknown): number {
  const ms = parseDurationMs(value);
  if (ms % 1000 !== 0) throw new ConfigValueError(`${JSON.stringify(value)} is not a whole number of seconds (DNS TTLs are in seconds)`);
  const seconds = ms / 1000;
  if (seconds > 0x7fffffff) throw new ConfigValueError(`${seconds}s exceeds the largest TTL (2147483647s)`);
  return seconds;
}

export function parseInteger(min: number, max: number) {
  return (value: unknown): number => {
    const number = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value;
    if (typeof number !== 'number' || !Number.isInteger(number) || number < min || number > max) {
      throw new ConfigValueError(`${JSON.stringify(value)} is not a whole number from ${min} to ${max}`);
    }
    return number;
  };
}

export function parseBoolean(value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    const lower = value.trim().toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(lower)) return true;
    if (['false', '0', 'no', 'off', ''].includes(lower)) return false;
  }
  throw new ConfigValueError(`${JSON.stringify(value)} is not true or false`);
}

export function parseString(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  throw new ConfigValueError(`${JSON.stringify(value)} is not a string`);
}

export function parseEnum<T extends string>(allowed: readonly T[]) {
  return (value: unknown): T => {
    if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
    throw new ConfigValueError(`${JSON.stringify(value)} is not one of ${allowed.join(', ')}`);
  };
}

/** A YAML list, or a comma-separated string (the environment's form). */
export function listOf<T>(parseItem: (item: unknown) => T) {
  return (value: unknown): T[] => {
    const items = typeof value === 'string' ? value.split(',').map((item) => item.trim()).filter((item) => item !== '') : value;
    if (!Array.isArray(items)) throw new ConfigValueError(`${JSON.stringify(value)} is not a list`);
    return items.map((item, index) => {
      try {
        return parseItem(item);
      } catch (error) {
        throw new ConfigValueError(`item ${index + 1}: ${(error as Error).message}`);
      }
    });
  };
}

export function parseListen(value: unknown): ListenAddress {
  const address = typeof value === 'string' ? parseListenAddress(value.trim()) : null;
  if (!address) throw new ConfigValueError(`${JSON.stringify(value)} is not host:port or [ipv6]:port with an IP literal host`);
  return address;
}

export function parseHttpListen(value: unknown): ListenAddress | null {
  if (value === '' || value === null || value === 'off') return null;
  return parseListen(value);
}

export function parseIpHost(value: unknown): string {
  const host = parseString(value).trim();
  if (host !== '' && !ipaddr.isValid(host)) throw new ConfigValueError(`${JSON.stringify(value)} is not an IP address`);
  return host;
}

export function parseCidr(value: unknown): string {
  const text = parseString(value).trim();
  try {
    const [address, prefix] = ipaddr.parseCIDR(text);
    return `${address.toString()}/${prefix}`;
  } catch {
    throw new ConfigValueError(`${JSON.stringify(value)} is not a CIDR such as 10.0.0.0/8 or fd00::/8`);
  }
}

/** A DNS name: lowercase, no trailing dot, labels of letters, digits, '-' or '_'. */
export function parseDomainName(value: unknown): string {
  const name = parseString(value).trim().toLowerCase().replace(/\.$/, '');
  const labels = name.split('.');
  if (name === '' || name.length > 253 || labels.some((label) => !/^(?!-)[a-z0-9_-]{1,63}(?<!-)$/.test(label))) {
    throw new ConfigValueError(`${JSON.stringify(value)} is not a valid domain name`);
  }
  return name;
}

export function parseHttpUrl(value: unknown): string {
  const text = parseString(value).trim();
  if (text === '') return '';
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigValueError(`${JSON.stringify(value)} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigValueError(`${JSON.stringify(value)} must be http:// or https://`);
  return text.replace(/\/+$/, '');
}

/** An upstream resolver: `ip` (port 53), `ip:port` or `[v6]:port`. */
export function parseUpstream(value: unknown): ListenAddress {
  const text = parseString(value).trim();
  if (ipaddr.isValid(text)) return { host: text, port: 53, family: text.includes(':') ? 'ipv6' : 'ipv4' };
  const address = parseListenAddress(text);
  if (!address || address.port === 0) throw new ConfigValueError(`${JSON.stringify(value)} is not an upstream (ip, ip:port or [ipv6]:port)`);
  return address;
}

export interface DomainUpstream {
  domain: string;
  servers: ListenAddress[];
}

/** dnsmasq's `server=/domain/ip` form: "/corp.example/10.0.0.2" or "/corp.example/10.0.0.2 [fd00::2]:5353". */
export function parseDomainUpstream(value: unknown): DomainUpstream {
  const match = /^\/([^/]+)\/(.+)$/.exec(parseString(value).trim());
  if (!match) throw new ConfigValueError(`${JSON.stringify(value)} is not /domain/server (dnsmasq server= form)`);
  return { domain: parseDomainName(match[1]), servers: match[2]!.trim().split(/\s+/).map(parseUpstream) };
}
