// Files the Helm chart carries that other parts of the repo own: Helm reads nothing outside the chart,
// so the CRDs are copied into it (and must stay the generated ones), and the Grafana dashboard names
// metrics that the frontend, workers, router and operator must really export.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { FrontendMetrics } from '../../../src/frontend/metrics.js';
import { OperatorMetrics } from '../../../src/operator/metrics.js';
import { RouterMetrics } from '../../../src/router/metrics.js';
import { RuntimeMetrics } from '../../../src/runtime/metrics.js';

const ROOT = join(import.meta.dirname, '../../..');
const CHART = join(ROOT, 'charts/dynamo-platform');

describe('chart crds/', () => {
  it('holds exactly the generated CRDs of crds/ (copy them with `make crds`)', () => {
    const repo = readdirSync(join(ROOT, 'crds')).filter((f) => f.endsWith('.yaml'));
    const chart = readdirSync(join(CHART, 'crds')).filter((f) => f.endsWith('.yaml'));
    expect(chart.sort()).toEqual(repo.sort());
    for (const file of repo) {
      expect(readFileSync(join(CHART, 'crds', file), 'utf8'), file).toBe(
        readFileSync(join(ROOT, 'crds', file), 'utf8'),
      );
    }
  });
});

const Dashboard = z.object({
  panels: z.array(
    z.object({
      title: z.string(),
      targets: z.array(z.object({ expr: z.string() })).optional(),
    }),
  ),
});

describe('Grafana dashboard', () => {
  const dashboard = Dashboard.parse(JSON.parse(readFileSync(join(CHART, 'dashboards/dynamo.json'), 'utf8')));
  const exported = async () => {
    const registry = new Registry();
    new FrontendMetrics(registry, () => []);
    RouterMetrics.for(registry);
    new RuntimeMetrics(registry);
    const names = (await registry.getMetricsAsJSON()).map((m) => m.name);
    names.push(...(await new OperatorMetrics().registry.getMetricsAsJSON()).map((m) => m.name));
    return new Set(names);
  };

  it('queries only metrics that the processes export', async () => {
    const names = await exported();
    const used = new Set<string>();
    for (const panel of dashboard.panels) {
      for (const target of panel.targets ?? []) {
        // Metric names are the identifiers followed by `{`, `[` or `)`; label names never are.
        for (const m of target.expr.matchAll(/\b(dynamo_[a-z_]+)\s*[[{)]/g)) {
          used.add((m[1] ?? '').replace(/_(bucket|sum|count)$/, ''));
        }
      }
    }
    expect(used.size).toBeGreaterThan(10);
    expect([...used].filter((n) => !names.has(n))).toEqual([]);
  });

  it('has a panel for each of frontend, worker, router and operator metrics', () => {
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)).join('\n');
    for (const prefix of ['dynamo_frontend_', 'dynamo_component_', 'dynamo_router_', 'dynamo_operator_']) {
      expect(exprs).toContain(prefix);
    }
  });
});
