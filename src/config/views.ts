// Views by client network (issue 8 item 5): which registry namespaces a client may see.
//
//   views:
//     list:
//       - { name: dmz,  networks: [10.10.1.0/24], namespaces: [dmz, app], home: dmz }
//     unmatched: refused        # a client in no view: REFUSED for mesh names (or nxdomain)
//
// A view's clients see `<agent>.<namespace>.<zone>` for every namespace listed, and
// `<agent>.<zone>` for the agents of its home namespace. The registry does not return an agent's
// namespace (reference §3.3), so each namespace named by some view is polled on its own
// (`GET /agents?namespace=`). Parsed here, checked whole (every error names the view, the field
// and the reason); load.ts adds the file or environment variable and the key.
import { ConfigValueError, parseCidr, parseString } from './values.ts';

export interface ViewSpec {
  name: string;
  /** CIDRs of the clients in this view; the most specific prefix over all views decides. */
  networks: string[];
  /** Registry namespaces the view may see, as `<agent>.<namespace>.<zone>`. */
  namespaces: string[];
  /** The namespace whose agents it also sees as `<agent>.<zone>` (one of `namespaces`). */
  home: string;
}

/** What a client in no view gets for names in the mesh zone. */
export type UnmatchedViewPolicy = 'refused' | 'nxdomain';

// The registry's own rule for namespaces (reference §3.1): a lowercase DNS label, ≤ 63 chars.
const NAMESPACE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const VIEW_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;
const VIEW_KEYS = ['name', 'networks', 'namespaces', 'home'];
/** Views and namespaces are a handful in practice; the bound keeps one poll's request count sane. */
export const MAX_VIEWS = 64;
export const MAX_NAMESPACES = 64;

/** `views.list`: a YAML list of views, or the same as a JSON string (MESH_DNS_VIEWS). */
export function parseViews(value: unknown): ViewSpec[] {
  let list: unknown = value;
  if (typeof value === 'string') {
    if (value.trim() === '') return [];
    try {
      list = JSON.parse(value);
    } catch {
      throw new ConfigValueError('is not a JSON list of views ([{"name":…,"networks":[…],"namespaces":[…],"home":…}])');
    }
  }
  if (!Array.isArray(list)) throw new ConfigValueError('must be a list of views ({name, networks, namespaces, home})');
  if (list.length > MAX_VIEWS) throw new ConfigValueError(`${list.length} views: at most ${MAX_VIEWS}`);
  const views = list.map((item, index) => parseView(item, index));
  const names = new Set<string>();
  const owners = new Map<string, string>();
  for (const view of views) {
    if (names.has(view.name)) throw new ConfigValueError(`view "${view.name}": the name is used twice`);
    names.add(view.name);
    for (const network of view.networks) {
      const other = owners.get(network);
      // The same prefix in two views leaves no most-specific match: which one a client is in
      // would depend on the list order, so it is an error, not a silent tie-break.
      if (other !== undefined) throw new ConfigValueError(`view "${view.name}": networks: ${network} is already in view "${other}"`);
      owners.set(network, view.name);
    }
  }
  const namespaces = new Set(views.flatMap((view) => view.namespaces));
  if (namespaces.size > MAX_NAMESPACES) throw new ConfigValueError(`${namespaces.size} distinct namespaces: at most ${MAX_NAMESPACES} (one GET /agents per namespace per poll)`);
  return views;
}

function parseView(item: unknown, index: number): ViewSpec {
  const where = (field: string) => `view ${index + 1}${typeof (item as { name?: unknown })?.name === 'string' ? ` ("${(item as { name: string }).name}")` : ''}: ${field}`;
  if (typeof item !== 'object' || item === null || Array.isArray(item)) throw new ConfigValueError(`view ${index + 1}: must be a mapping {name, networks, namespaces, home}`);
  const fields = item as Record<string, unknown>;
  const unknown = Object.keys(fields).filter((key) => !VIEW_KEYS.includes(key));
  if (unknown.length > 0) throw new ConfigValueError(`${where(unknown.join(', '))}: unknown field (a view has ${VIEW_KEYS.join(', ')})`);
  const name = typeof fields['name'] === 'string' ? fields['name'] : '';
  if (!VIEW_NAME.test(name)) throw new ConfigValueError(`${where('name')}: ${JSON.stringify(fields['name'])} is not a view name (letters, digits, - or _)`);
  const networks = stringList(fields['networks'], where('networks')).map((network, i) => {
    try {
      return parseCidr(network);
    } catch (error) {
      throw new ConfigValueError(`${where(`networks[${i + 1}]`)}: ${(error as Error).message}`);
    }
  });
  if (networks.length === 0) throw new ConfigValueError(`${where('networks')}: at least one CIDR is needed`);
  const namespaces = stringList(fields['namespaces'], where('namespaces'));
  namespaces.forEach((namespace, i) => {
    if (!NAMESPACE.test(namespace)) throw new ConfigValueError(`${where(`namespaces[${i + 1}]`)}: ${JSON.stringify(namespace)} is not a registry namespace (lowercase letters, digits, '-'; at most 63)`);
  });
  const home = fields['home'] === undefined ? '' : parseString(fields['home']);
  if (!namespaces.includes(home)) throw new ConfigValueError(`${where('home')}: ${JSON.stringify(fields['home'] ?? null)} must be one of its namespaces (${namespaces.join(', ') || 'none listed'})`);
  return { name, networks, namespaces: [...new Set(namespaces)], home };
}

function stringList(value: unknown, where: string): string[] {
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) throw new ConfigValueError(`${where}: must be a list of strings`);
  return value as string[];
}

/** Every namespace some view may see, sorted: the ones the registry sync polls. */
export function viewNamespaces(views: readonly ViewSpec[]): string[] {
  return [...new Set(views.flatMap((view) => view.namespaces))].sort();
}
