// Which agents each view's zone holds (issue 8 item 5). Pure: projection + view config → the
// instance list compileZone gets for one view.
//
//   every namespace the view lists   → <agent>.<namespace>.<zone>  (with SRV, TXT, PTR)
//   its home namespace, in addition  → <agent>.<zone>             (no second PTR)
//
// Agents without a namespace (a snapshot saved before views were configured) are in no view
// until the first poll lists them under one.
import type { ViewSpec } from '../config/views.ts';
import type { MeshInstance } from './compile.ts';

export interface NamespacedInstance extends MeshInstance {
  namespace?: string;
}

export function instancesForView(instances: readonly NamespacedInstance[], view: Pick<ViewSpec, 'namespaces' | 'home'>): MeshInstance[] {
  const visible = new Set(view.namespaces);
  const result: MeshInstance[] = [];
  for (const instance of instances) {
    if (instance.namespace === undefined || !visible.has(instance.namespace)) continue;
    result.push({ ...instance, domain: instance.namespace });
    if (instance.namespace === view.home) result.push({ ...instance, domain: '', ptr: false });
  }
  return result;
}
