// An SVG plot of TTFT distributions: one empirical CDF per policy (x: TTFT in ms, log scale; y: the
// fraction of requests with a TTFT at most x). Dependency-free; opens in any browser.
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];

const escapeXml = (s: string) => s.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);

export function ttftCdfSvg(series: ReadonlyMap<string, readonly number[]>, title: string): string {
  const W = 720;
  const H = 420;
  const m = { left: 60, right: 150, top: 40, bottom: 50 };
  const all = [...series.values()].flat().filter((v) => v > 0 && Number.isFinite(v));
  const lo = Math.max(0.1, Math.min(...all, 1));
  const hi = Math.max(...all, lo * 10);
  const lx0 = Math.floor(Math.log10(lo));
  const lx1 = Math.ceil(Math.log10(hi));
  const x = (v: number) =>
    m.left + ((Math.log10(Math.max(v, lo)) - lx0) / (lx1 - lx0)) * (W - m.left - m.right);
  const y = (f: number) => H - m.bottom - f * (H - m.top - m.bottom);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2 - 60}" y="22" font-size="14">${escapeXml(title)}</text>`,
    `<line x1="${m.left}" y1="${y(0)}" x2="${W - m.right}" y2="${y(0)}" stroke="black"/>`,
    `<line x1="${m.left}" y1="${y(0)}" x2="${m.left}" y2="${y(1)}" stroke="black"/>`,
    `<text x="${(m.left + W - m.right) / 2 - 40}" y="${H - 12}">TTFT (ms, log)</text>`,
    `<text x="14" y="${y(0.5)}" transform="rotate(-90 14 ${y(0.5)})">fraction of requests</text>`,
  ];
  for (let e = lx0; e <= lx1; e++) {
    const px = x(10 ** e);
    parts.push(`<line x1="${px}" y1="${y(0)}" x2="${px}" y2="${y(1)}" stroke="#ddd"/>`);
    parts.push(
      `<text x="${px - 10}" y="${y(0) + 16}">${10 ** e >= 1 ? 10 ** e : (10 ** e).toFixed(1)}</text>`,
    );
  }
  for (const f of [0, 0.25, 0.5, 0.75, 1]) {
    parts.push(`<line x1="${m.left}" y1="${y(f)}" x2="${W - m.right}" y2="${y(f)}" stroke="#eee"/>`);
    parts.push(`<text x="${m.left - 34}" y="${y(f) + 4}">${f.toFixed(2)}</text>`);
  }
  [...series.entries()].forEach(([name, values], i) => {
    const color = COLORS[i % COLORS.length] as string;
    const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
    if (sorted.length === 0) return;
    const points = sorted.map((v, k) => `${x(v).toFixed(1)},${y((k + 1) / sorted.length).toFixed(1)}`);
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${points.join(' ')}"/>`);
    const mean = sorted.reduce((s, v) => s + v, 0) / sorted.length;
    parts.push(
      `<rect x="${W - m.right + 12}" y="${m.top + 20 * i}" width="12" height="12" fill="${color}"/>`,
    );
    parts.push(
      `<text x="${W - m.right + 30}" y="${m.top + 20 * i + 11}">${escapeXml(name)} (mean ${mean.toFixed(0)})</text>`,
    );
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
