#!/usr/bin/env node
// The mesh-dns command: arguments, logger, signals, exit codes.
//
// A failure to start is one plain line on stderr, whatever its cause, and an exit code that says
// which kind it is (the README's table), so a supervisor can tell "fix the config" (78, restarting
// will not help) from "the port is taken" (69, it may be free soon). Only a bug prints a stack.

import { readFileSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import pino, { type Logger } from 'pino';
import { ConfigError, loadConfig, resolveConfigPath, type LoadedConfig } from './config/load.ts';
import type { MeshDnsConfig } from './config/options.ts';
import { loadConfigInChild } from './config/load-in-child.ts';
import { chooseUpstreams, timingVerdicts } from './forward/setup.ts';
import { upstreamName } from './forward/types.ts';
import { ListenError } from './listeners/address.ts';
import { stopOnSignals } from './lifecycle.ts';
import { NoListenerError, startMeshDns, type MeshDnsServer } from './server.ts';
import { runHealthcheck } from './cli/healthcheck.ts';
import { runResolvConfCommand } from './cli/resolv-conf.ts';
import { BUSY_WINDOW_MS, LARGE_SNAPSHOT_BYTES, turnOnCompilerWhenBusy } from './runtime/optimizing-compiler.ts';
import { memoryReducingCollection, trimHeapWhenQuiet } from './runtime/heap-trim.ts';
import { createHeapTrimMetrics } from './runtime/metrics.ts';

/** sysexits(3) codes where one fits. */
const ExitCode = {
  OK: 0,
  /** A bug: the stack is printed. */
  INTERNAL: 1,
  /** Bad command-line arguments. */
  USAGE: 2,
  /** A listen address cannot be bound: in use, or not an address of this host (EX_UNAVAILABLE). */
  UNAVAILABLE: 69,
  /** No permission to bind a listen address, e.g. port 53 without CAP_NET_BIND_SERVICE (EX_NOPERM). */
  NO_PERMISSION: 77,
  /** Invalid config: file, environment variable or value (EX_CONFIG). */
  CONFIG: 78,
  /** A second SIGINT during the graceful stop (128 + SIGINT, as shells report it). */
  INTERRUPTED: 130,
} as const;

const USAGE = `Usage: mesh-dns [--config FILE] [--check]
       mesh-dns healthcheck [--config FILE]   exit 0 when the running server's /ready is 200
       mesh-dns resolv-conf [--zone Z] [--server IP]   recommended client resolver settings

DNS for MCP Mesh: answers *.mesh.local from the registry.

  --config FILE   YAML config (default: $MESH_DNS_CONFIG, else the packaged config/mesh-dns.yaml)
  --check         validate the config, print the upstreams start-up would use, and exit
  --version       print the version
  --help          this text

Every config key can be set from the environment; see the README.
Exit codes: 0 stopped or checked, 1 internal error, 2 bad arguments, 69 a listen address is
unavailable, 77 no permission to bind, 78 invalid config.`;

function packageVersion(): string {
  const text = readFileSync(new URL('../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

async function main(): Promise<number> {
  if (process.argv[2] === 'healthcheck') return runHealthcheck(process.argv.slice(3));
  if (process.argv[2] === 'resolv-conf') return runResolvConfCommand(process.argv.slice(3), (text) => process.stdout.write(text), (text) => process.stderr.write(text));
  let args;
  try {
    args = parseArgs({ options: { config: { type: 'string' }, check: { type: 'boolean' }, version: { type: 'boolean' }, help: { type: 'boolean' } } }).values;
  } catch (error) {
    process.stderr.write(`mesh-dns: ${(error as Error).message}\n\n${USAGE}\n`);
    return ExitCode.USAGE;
  }
  if (args.help) return void process.stdout.write(`${USAGE}\n`), ExitCode.OK;
  if (args.version) return void process.stdout.write(`${packageVersion()}\n`), ExitCode.OK;

  let loaded;
  try {
    if (args.check) return check(loadConfig(args.config));
    // In a child process: the YAML parser is not kept resident for the server's life (load-in-child.ts).
    loaded = await loadConfigInChild(args.config);
  } catch (error) {
    return startFailure(error);
  }

  const logger = pino({ level: loaded.config.log.level, base: { service: 'mesh-dns' } });
  // Installed before start-up: the default action of SIGHUP is to exit, and an operator's reload
  // during a slow start must not kill the server. A reload asked for while starting runs after.
  let reloadPending = false;
  let reload = () => {
    reloadPending = true;
  };
  process.on('SIGHUP', () => reload());
  // A DNS server must not die on a bug in one query path: log it, count it, keep serving.
  process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled promise rejection'));

  const optimizedFromStart = optimizeLargeSnapshotLoad(loaded.config, logger);
  let server;
  try {
    server = await startMeshDns(loaded, logger);
  } catch (error) {
    return startFailure(error);
  }
  if (!optimizedFromStart) optimizeOnceBusy(logger);
  trimHeapOnceQuiet(server, logger);
  const configPath = resolveConfigPath(args.config, process.env);

  // Reloads run one after another, in the order the signals came.
  let reloads = Promise.resolve();
  reload = () => {
    reloads = reloads.then(async () => {
      try {
        server.reload(await loadConfigInChild(args.config));
      } catch (error) {
        logger.error({ err: error, config: configPath }, `reload failed, keeping the running config: ${(error as Error).message}`);
      }
    });
  };
  if (reloadPending) reload();
  // Lame duck, drain, release: lifecycle.ts (also what a repeated signal does).
  await stopOnSignals(server.shutdown, logger, ExitCode.INTERRUPTED);
  logger.info('stopped');
  return ExitCode.OK;
}

/**
 * bin/mesh-dns starts node with --no-turbofan; TurboFan comes on once the server is busy
 * (src/runtime/optimizing-compiler.ts says why and how busy), or before start-up when it is about
 * to load a large registry snapshot. A `node --no-turbofan` run by hand gets the same; without the
 * flag TurboFan is on from the start. The --max-opt flags do not keep it off beside --no-turbofan:
 * the --turbofan set here overrides them (--max-opt=1 with the launcher's flags: 52 TurboFan
 * compilations after a burst of queries, as without it).
 */
const turbofanDeferred = process.execArgv.includes('--no-turbofan');

/** Before start-up: true when it turned TurboFan on for a registry snapshot of LARGE_SNAPSHOT_BYTES or more. */
function optimizeLargeSnapshotLoad(config: MeshDnsConfig, logger: Logger): boolean {
  if (!turbofanDeferred || config.registry.url === '' || config.registry.snapshotPath === '') return false;
  const bytes = snapshotBytes(config.registry.snapshotPath);
  if (bytes < LARGE_SNAPSHOT_BYTES) return false;
  setFlagsFromString('--turbofan');
  logger.info({ snapshotBytes: bytes }, 'large registry snapshot to load: optimising compiler (TurboFan) turned on');
  return true;
}

/** Once started: TurboFan on the first time the server is busy. */
function optimizeOnceBusy(logger: Logger): void {
  if (!turbofanDeferred) return;
  turnOnCompilerWhenBusy({
    cpuMicros: () => {
      const used = process.cpuUsage();
      return used.user + used.system;
    },
    now: () => performance.now(),
    turnOn: () => setFlagsFromString('--turbofan'),
    onTurnedOn: (cpuMicros) => logger.info({ cpuMs: Math.round(cpuMicros / 1000), windowMs: BUSY_WINDOW_MS }, 'busy: optimising compiler (TurboFan) turned on'),
  });
}

/** A memory-reducing collection after growth, once no query has come for a while (heap-trim.ts says why). */
function trimHeapOnceQuiet(server: MeshDnsServer, logger: Logger): void {
  const mib = (bytes: number) => Math.round((bytes / 1048576) * 10) / 10;
  const metrics = createHeapTrimMetrics(server.metricsRegistry);
  trimHeapWhenQuiet({
    requests: server.requestsSoFar,
    rss: () => process.memoryUsage.rss(),
    now: () => performance.now(),
    collect: memoryReducingCollection(),
    onUnavailable: () => logger.warn('this V8 offers no memory-reducing collection: memory grown in a burst stays resident'),
    onTrimmed: ({ rssBefore, rssAfter, pauseMs }) => {
      metrics.trimmed(pauseMs);
      logger.info({ rssMiBBefore: mib(rssBefore), rssMiBAfter: mib(rssAfter), pauseMs: Math.round(pauseMs) }, 'quiet after growth: heap compacted and returned to the system');
    },
  });
}

function snapshotBytes(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0; // none yet, or unreadable: start-up says which
  }
}

/** One line on stderr and the exit code of its kind; anything unexpected is rethrown (a bug). */
function startFailure(error: unknown): number {
  if (error instanceof ConfigError) {
    process.stderr.write(`mesh-dns: invalid config: ${error.message}\n`);
    return ExitCode.CONFIG;
  }
  if (error instanceof ListenError || error instanceof NoListenerError) {
    process.stderr.write(`mesh-dns: cannot start: ${error.message}\n`);
    const denied = error instanceof ListenError && (error.code === 'EACCES' || error.code === 'EPERM');
    return denied ? ExitCode.NO_PERMISSION : ExitCode.UNAVAILABLE;
  }
  throw error;
}

/**
 * --check: the config, and the upstream verdicts start-up would log (which upstreams, from where,
 * which are left out and why); a configured upstream that is one of our listen addresses fails
 * here as it fails start. Loops through other hosts or NAT need traffic: start-up probes them.
 */
function check(loaded: LoadedConfig): number {
  const { config } = loaded;
  const choice = chooseUpstreams(config, loaded.sourceOf);
  const lines = [`config OK: ${config.source}`];
  const domains = config.upstreams.domains.map((entry) => `/${entry.domain}/ ${entry.servers.map(upstreamName).join(' ')}`);
  if (choice.upstreams.length > 0) lines.push(`upstreams: ${choice.upstreams.map(upstreamName).join(', ')} (from ${choice.from})`);
  else lines.push(`upstreams: none (from ${choice.from}): names outside the mesh zone are REFUSED${domains.length > 0 ? ', except under the per-domain upstreams\' domains' : ''}`);
  if (domains.length > 0) lines.push(`per-domain upstreams: ${domains.join(', ')} (from ${loaded.sourceOf('upstreams.domains')})`);
  const forwards = choice.upstreams.length > 0 || domains.length > 0;
  for (const verdict of [...choice.verdicts, ...(forwards ? timingVerdicts(config) : [])]) {
    const fields = Object.entries(verdict.fields).map(([key, value]) => `${key}=${String(value)}`).join(' ');
    lines.push(`${verdict.level === 'error' ? 'error' : 'warning'}: ${verdict.message} (${fields})`);
  }
  if (config.upstreams.loopDetect && (choice.upstreams.length > 0 || domains.length > 0)) {
    lines.push('loop probe: each upstream is probed at start; one that sends the probe back to mesh-dns is taken out of rotation');
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  return ExitCode.OK;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`mesh-dns: internal error: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = ExitCode.INTERNAL;
  },
);
