// Runs a shell script in network, mount and PID namespaces of its own: only a loopback interface
// (the script brings it up and adds what it needs: veth pairs, iptables rules, addresses such as
// 127.0.0.11 or port 53), nothing reaches this machine's network. Every process the script
// starts is in the PID namespace, so all of them die with it, even when the test is killed
// (`--kill-child`). Returns stdout; the script prints what the test asserts.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { requirementsProblem } from './tools.ts';

const run = promisify(execFile);

/** Why namespace tests cannot run here, or null when they can. */
export function namespaceUnavailable(tools: readonly string[] = []): string | null {
  return requirementsProblem(['unshare', 'ip', ...tools], { root: 'the test makes network namespaces with unshare' });
}

export async function runInNetworkNamespace(script: string, timeoutMs = 60_000): Promise<string> {
  const { stdout } = await run('unshare', ['--net', '--mount', '--pid', '--fork', '--mount-proc', '--kill-child', 'sh', '-c', script], {
    timeout: timeoutMs,
    killSignal: 'SIGKILL',
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout;
}

/** The blocks a script printed as `== <label>` followed by its lines. */
export function sections(stdout: string): Map<string, string> {
  const blocks = new Map<string, string>();
  for (const block of stdout.split(/^== /m).slice(1)) {
    const newline = block.indexOf('\n');
    blocks.set(block.slice(0, newline), block.slice(newline + 1).trimEnd());
  }
  return blocks;
}
