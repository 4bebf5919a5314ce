// The server's config, read and validated in a short-lived child process, so that the YAML parser
// never lives in the server's isolate.
//
// Why: the `yaml` package is needed only to read the file, but an ES module cannot be unloaded;
// loaded in-process it stayed resident for the server's life (measured +8 MiB of RSS on Node 24.21;
// npm run bench:memory prints the current figure). A worker_thread was measured too and is worse:
// its freed heap stays in glibc's arenas (a worker that only parsed YAML left RSS 4 MiB above
// parsing in-process). The child costs one Node start at start and at each SIGHUP reload: 0.26–0.54 s
// wall time and a transient 63 MiB process, measured on this busy 2-core machine.
// The result is plain data (the config is numbers, strings, lists and records), sent back as JSON;
// errors keep their file, key and reason. `mesh-dns --check` and the healthcheck load in-process:
// they exit right after.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ConfigError, type LoadedConfig } from './load.ts';

// Beside this file, with its extension: .ts when run from src/ (type stripping), .js from dist/.
const CHILD_ENTRY = fileURLToPath(new URL(`./load-child${import.meta.url.slice(import.meta.url.lastIndexOf('.'))}`, import.meta.url));

type ChildAnswer =
  | { loaded: Omit<LoadedConfig, 'sourceOf'> }
  | { configError: { source: string; key: string; reason: string } };

/** loadConfig(cliPath, env), run in a child; ConfigError as loadConfig throws it. */
export async function loadConfigInChild(cliPath: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<LoadedConfig> {
  const child = spawn(process.execPath, [CHILD_ENTRY, cliPath ?? ''], { stdio: ['ignore', 'pipe', 'inherit'], env });
  const chunks: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
  const exitCode = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code));
  });
  const output = Buffer.concat(chunks).toString('utf8');
  if (exitCode !== 0 || output === '') throw new Error(`the config loader (${CHILD_ENTRY}) exited with code ${exitCode}`);
  const answer = JSON.parse(output) as ChildAnswer;
  if ('configError' in answer) throw new ConfigError(answer.configError.source, answer.configError.key, answer.configError.reason);
  const { sources } = answer.loaded;
  return { ...answer.loaded, sourceOf: (key: string) => sources[key]! };
}
