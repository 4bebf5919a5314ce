// Loads the config: YAML file, then environment variables over it, then defaults; validates
// everything at start. Errors name the file (or variable), the key and the reason.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { ListenAddress } from '../listeners/address.ts';
import { compileStaticRecords } from '../zone/static-records.ts';
import type { StaticRecord } from '../zone/compile.ts';
import { OPTIONS, type MeshDnsConfig } from './options.ts';
import { nearestName } from './suggest.ts';

export class ConfigError extends Error {
  readonly source: string;
  readonly key: string;
  readonly reason: string;

  constructor(source: string, key: string, reason: string) {
    super(`${source}: ${key}: ${reason}`);
    this.name = 'ConfigError';
    this.source = source;
    this.key = key;
    this.reason = reason;
  }
}

/** The packaged default config, found next to the code whether run from src/ or dist/. */
export const DEFAULT_CONFIG_PATH = fileURLToPath(new URL('../../config/mesh-dns.yaml', import.meta.url));

export interface LoadedConfig {
  config: MeshDnsConfig;
  staticRecords: StaticRecord[];
  /** Where a key's value came from: the file's path, "environment variable X", or "default". */
  sourceOf(key: string): string;
}

export function resolveConfigPath(cliPath: string | undefined, env: NodeJS.ProcessEnv): string {
  return cliPath ?? (env.MESH_DNS_CONFIG || DEFAULT_CONFIG_PATH);
}

function readYaml(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const plain = code === 'EACCES' ? 'permission denied' : code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : null;
    throw new ConfigError(path, '(file)', `cannot read: ${plain ? `${plain} (${code})` : (code ?? (error as Error).message)}`);
  }
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    const where = error instanceof YAMLParseError && error.linePos ? ` at line ${error.linePos[0].line}` : '';
    throw new ConfigError(path, '(syntax)', `not valid YAML${where}: ${(error as Error).message.split('\n')[0]}`);
  }
  if (document === null || document === undefined) return {};
  if (typeof document !== 'object' || Array.isArray(document)) throw new ConfigError(path, '(root)', 'the file must hold a mapping of sections (listen, zone, registry, …)');
  return document as Record<string, unknown>;
}

/** Reads `key` ("zone.ttl") out of the YAML tree; reports keys that no option knows. */
function collectFileValues(path: string, document: Record<string, unknown>): Map<string, unknown> {
  const known = new Set<string>(OPTIONS.map((option) => option.key));
  const sections = new Set([...known].map((key) => key.split('.')[0]!));
  const values = new Map<string, unknown>();
  for (const [section, body] of Object.entries(document)) {
    if (!sections.has(section)) {
      const near = nearestName(section, [...sections]);
      throw new ConfigError(path, section, `unknown section (${near ? `did you mean ${near}? ` : ''}known: ${[...sections].join(', ')})`);
    }
    if (body === null) continue;
    if (typeof body !== 'object' || Array.isArray(body)) throw new ConfigError(path, section, 'must be a mapping of keys');
    for (const [name, value] of Object.entries(body as Record<string, unknown>)) {
      const key = `${section}.${name}`;
      if (!known.has(key)) {
        const siblings = [...known].filter((candidate) => candidate.startsWith(`${section}.`)).map((candidate) => candidate.slice(section.length + 1));
        const near = nearestName(name, siblings);
        throw new ConfigError(path, key, `unknown key (${near ? `did you mean ${section}.${near}? ` : ''}known under ${section}: ${siblings.join(', ')})`);
      }
      values.set(key, value);
    }
  }
  return values;
}

/** MESH_DNS_* variables read that are not options. */
const OTHER_VARIABLES = ['MESH_DNS_CONFIG'];
const VARIABLE_PREFIX = /^(?:MCP_MESH_DNS_|MESH_DNS_|MCP_MESH_)/;

/**
 * An unknown MESH_DNS_* variable is an error, as an unknown YAML key is: a misspelt variable
 * would otherwise leave its option at the default without a word. Only our own prefix: MCP_MESH_*
 * variables are shared with the MCP Mesh agents and registry running in the same environment.
 */
function checkVariables(env: NodeJS.ProcessEnv): void {
  const options = new Map<string, string>(OPTIONS.map((option) => [option.env, option.key]));
  const known = [...options.keys(), ...OTHER_VARIABLES];
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith('MESH_DNS_') || known.includes(name)) continue;
    const near = nearestName(name, known, (variable) => variable.replace(VARIABLE_PREFIX, ''));
    const hint = near ? `did you mean ${near}${options.has(near) ? `, which sets ${options.get(near)}` : ''}?` : 'the README\'s config table lists every variable';
    throw new ConfigError('environment', name, `unknown variable (${hint})`);
  }
}

function setPath(target: Record<string, Record<string, unknown>>, key: string, value: unknown): void {
  const [section, name] = key.split('.') as [string, string];
  (target[section] ??= {})[name] = value;
}

export function loadConfig(cliPath: string | undefined, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const path = resolveConfigPath(cliPath, env);
  const fileValues = collectFileValues(path, readYaml(path));
  checkVariables(env);
  const tree: Record<string, Record<string, unknown>> = {};
  for (const option of OPTIONS) {
    const fromEnv = env[option.env];
    const [source, raw] = fromEnv !== undefined ? [`environment variable ${option.env}`, fromEnv] : fileValues.has(option.key) ? [path, fileValues.get(option.key)] : ['default', option.default];
    try {
      setPath(tree, option.key, option.parse(raw));
    } catch (error) {
      throw new ConfigError(source, option.key, (error as Error).message);
    }
  }
  const config = { source: path, ...tree } as unknown as MeshDnsConfig;
  // Cross-field checks name where the offending value came from, as single-value errors do.
  const sourceOf = (key: string) => {
    const option = OPTIONS.find((candidate) => candidate.key === key)!;
    return env[option.env] !== undefined ? `environment variable ${option.env}` : fileValues.has(key) ? path : 'default';
  };

  if (config.listen.dns.length === 0) throw new ConfigError(sourceOf('listen.dns'), 'listen.dns', 'at least one DNS listen address is needed');
  if (config.listen.bindHost !== '' && env.MESH_DNS_LISTEN === undefined) config.listen.dns = withBindHost(config.listen.dns, config.listen.bindHost);
  if (config.registry.pollInterval < 100) throw new ConfigError(sourceOf('registry.pollInterval'), 'registry.pollInterval', 'must be at least 100ms');
  if (config.registry.timeout < 50) throw new ConfigError(sourceOf('registry.timeout'), 'registry.timeout', 'must be at least 50ms');
  if (config.cache.minTtl > config.cache.maxTtl) throw new ConfigError(sourceOf('cache.minTtl'), 'cache.minTtl', `${config.cache.minTtl}s is above cache.maxTtl (${config.cache.maxTtl}s)`);
  if (config.upstreams.tryTimeout > config.upstreams.deadline) throw new ConfigError(sourceOf('upstreams.tryTimeout'), 'upstreams.tryTimeout', `is longer than upstreams.deadline (${config.upstreams.deadline}ms)`);

  let staticRecords: StaticRecord[];
  try {
    staticRecords = compileStaticRecords(config.zone.records, config.zone.name, config.zone.ttl);
  } catch (error) {
    throw new ConfigError(env.MESH_DNS_RECORDS !== undefined ? 'environment variable MESH_DNS_RECORDS' : path, 'zone.records', (error as Error).message);
  }
  return { config, staticRecords, sourceOf };
}

/** MCP_MESH_BIND_HOST: one host for every configured port (docker-compose style `0.0.0.0`). */
function withBindHost(listen: ListenAddress[], host: string): ListenAddress[] {
  const family = host.includes(':') ? 'ipv6' : 'ipv4';
  const ports = [...new Set(listen.map((address) => address.port))];
  return ports.map((port) => ({ host, port, family }));
}
