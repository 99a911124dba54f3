// A real Prometheus (Debian's prometheus) on a free loopback port, scraping the targets it is given
// every second, with its TSDB in a directory of its own.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, ServerProcess } from './process.js';

export interface ScrapeTarget {
  job: string;
  /** host:port serving /metrics */
  address: string;
}

export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

export class PrometheusServer {
  private process: ServerProcess | undefined;
  port = 0;

  constructor(
    private readonly dir: string,
    private readonly targets: readonly ScrapeTarget[],
    private readonly binary = process.env.PROMETHEUS_BIN ?? 'prometheus',
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    if (this.port === 0) this.port = await freePort();
    const config = join(this.dir, 'prometheus.yml');
    const jobs = this.targets.map(
      (t) =>
        `  - job_name: ${JSON.stringify(t.job)}\n    static_configs:\n      - targets: [${JSON.stringify(t.address)}]`,
    );
    await writeFile(
      config,
      `global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n${jobs.join('\n')}\n`,
    );
    this.process = new ServerProcess({
      name: 'prometheus',
      command: this.binary,
      args: [
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(this.dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${this.port}`,
        '--log.level=warn',
      ],
      logFile: join(this.dir, 'prometheus.log'),
      ready: async () => (await fetch(`${this.url}/-/ready`)).ok,
    });
    await this.process.start();
  }

  /** An instant PromQL query; throws on an API error. */
  async query(promql: string): Promise<PromSample[]> {
    const res = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await res.json()) as { status: string; error?: string; data?: { result: PromSample[] } };
    if (body.status !== 'success' || !body.data)
      throw new Error(`prometheus query failed: ${body.error ?? res.status}`);
    return body.data.result;
  }

  async stop(): Promise<void> {
    await this.process?.stop();
  }
}
