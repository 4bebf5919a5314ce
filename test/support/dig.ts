// Runs the real `dig` (bind9-dnsutils) and parses its +yaml output, so tests assert on what a
// real client sees: status, flags, sections with TTLs, the OPT pseudo-section.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { toolAvailable } from './tools.ts';

const run = promisify(execFile);

export interface DigRecord {
  name: string;
  ttl: number;
  class: string;
  type: string;
  data: string;
}

export interface DigResult {
  status: string;
  id: number;
  flags: string[];
  answer: DigRecord[];
  authority: DigRecord[];
  additional: DigRecord[];
  /** EDNS pseudo-section, or null when the response had no OPT. */
  edns: { udp: number; version: number; flags: string; ede?: string } | null;
  protocol: 'UDP' | 'TCP';
  size: number;
  /** The Extended DNS Error (RFC 8914) of the response, or null when it carried none. */
  ede: { code: number; text: string } | null;
}

export const digAvailable = toolAvailable('dig');

function parseRecord(line: string): DigRecord {
  const [name, ttl, klass, type, ...data] = line.split(/\s+/);
  return { name: name!, ttl: Number(ttl), class: klass!, type: type!, data: data.join(' ') };
}

interface DigYamlMessage {
  message: {
    message_size: string;
    socket_protocol: 'UDP' | 'TCP';
    response_message_data: Record<string, unknown> & { status: string; id: number; flags: string };
  };
}

/** Queries `server` (an IP literal) for `name`/`type`; extra dig options pass through (+tcp, +dnssec, +bufsize=…). */
export async function dig(server: string, port: number, name: string, type = 'A', options: string[] = []): Promise<DigResult> {
  const { stdout } = await run('dig', ['+yaml', '+tries=1', '+time=3', `@${server}`, '-p', String(port), name, type, ...options]);
  return parseDigYaml(stdout, `${name} ${type}`);
}

/** Parses `dig +yaml` output (run here or elsewhere, e.g. inside a container). */
export function parseDigYaml(stdout: string, what: string): DigResult {
  const documents = parseYaml(stdout) as DigYamlMessage[] | null;
  const message = documents?.find((document) => document.message?.response_message_data)?.message;
  if (!message) throw new Error(`dig gave no response for ${what}:\n${stdout}`);
  const data = message.response_message_data;
  const section = (key: string) => ((data[key] as string[] | undefined) ?? []).map(parseRecord);
  const opt = (data['OPT_PSEUDOSECTION'] as { EDNS?: Record<string, unknown> } | undefined)?.EDNS;
  // dig 9.18 prints the EDE in +yaml as a map: { INFO-CODE: "3 (Stale Answer)", EXTRA-TEXT: "…" }.
  const edeMap = opt?.['EDE'] as { 'INFO-CODE'?: unknown; 'EXTRA-TEXT'?: unknown } | undefined;
  const infoCode = edeMap ? String(edeMap['INFO-CODE'] ?? '') : '';
  const codeMatch = /^(\d+)/.exec(infoCode);
  const ede = edeMap && codeMatch ? { code: Number(codeMatch[1]), text: String(edeMap['EXTRA-TEXT'] ?? '') } : null;
  return {
    status: data.status,
    id: data.id,
    flags: data.flags.split(/\s+/).filter(Boolean),
    answer: section('ANSWER_SECTION'),
    authority: section('AUTHORITY_SECTION'),
    additional: section('ADDITIONAL_SECTION'),
    edns: opt ? { udp: Number(opt['udp']), version: Number(opt['version']), flags: String(opt['flags'] ?? ''), ...(edeMap ? { ede: `${infoCode}: ${ede?.text ?? ''}` } : {}) } : null,
    protocol: message.socket_protocol,
    size: Number.parseInt(message.message_size, 10),
    ede,
  };
}

/** Addresses in an answer, sorted, for set comparisons. */
export function addressesOf(result: DigResult, type = 'A'): string[] {
  return result.answer.filter((record) => record.type === type).map((record) => record.data).sort();
}
