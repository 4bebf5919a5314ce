// Metrics of short names and search-path shortcuts (stages/single-label.ts, stages/autopath.ts).
// Plain integers bumped on the query path and copied into prom-client only when scraped: no
// prom-client call per query. Labels are a fixed set (`source`); no name becomes a label.

import { Counter, type Registry } from '../metrics/prom-client.ts';

/** Where a single-label answer came from. */
export type SingleLabelSource = 'zone' | 'runtime' | 'nxdomain';

export class ShortNameMetrics {
  readonly singleLabel: Record<SingleLabelSource, number> = { zone: 0, runtime: 0, nxdomain: 0 };
  searchExpanded = 0;
  autopathAnswers = 0;

  /** Registers the counters in `register` (omit it in unit tests: the numbers still count). */
  constructor(register?: Registry) {
    if (!register) return;
    const counts = this;
    new Counter({
      name: 'meshdns_single_label_answers_total',
      help: 'Single-label queries (`weather.`) answered, by source: the mesh zone, the container runtime resolver, or NXDOMAIN.',
      labelNames: ['source'] as const,
      registers: [register],
      collect() {
        this.reset();
        for (const source of ['zone', 'runtime', 'nxdomain'] as const) this.inc({ source }, counts.singleLabel[source]);
      },
    });
    new Counter({
      name: 'meshdns_search_expanded_names_total',
      help: 'Queries under the mesh zone with more labels than any mesh name has (a stub walking its search list, e.g. api.example.com.mesh.local).',
      registers: [register],
      collect() {
        this.reset();
        this.inc(counts.searchExpanded);
      },
    });
    new Counter({
      name: 'meshdns_autopath_answers_total',
      help: 'Search-expanded names answered with a CNAME to the bare name and its resolution (names.autopath).',
      registers: [register],
      collect() {
        this.reset();
        this.inc(counts.autopathAnswers);
      },
    });
  }
}
