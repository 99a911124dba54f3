// Cumulative prefill work of an engine, for its load reports (LoadMetrics.prefillTokensTotal /
// prefillSeconds): prompt tokens computed and the wall-clock time of the steps that computed them, so a
// reader sees the prefill throughput the engine achieves under its real load, not the profile's.
export class PrefillMeter {
  #tokens = 0;
  #ms = 0;

  /** One step that computed `prefillTokens` prompt tokens in `wallMs` (a step without any is not counted). */
  record(prefillTokens: number, wallMs: number): void {
    if (prefillTokens <= 0 || !(wallMs >= 0)) return;
    this.#tokens += prefillTokens;
    this.#ms += wallMs;
  }

  totals(): { prefillTokensTotal: number; prefillSeconds: number } {
    return { prefillTokensTotal: this.#tokens, prefillSeconds: this.#ms / 1000 };
  }
}
