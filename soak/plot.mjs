/**
 * The soak's SVG: four stacked panels over elapsed time (RSS, heap used, event-loop delay p99,
 * deliveries/s), the warm-up shaded, the verdict in the title. No dependencies.
 */
const W = 900;
const PANEL = 150;
const PAD = { left: 70, right: 20, top: 66, gap: 30 };

function esc(s) {
  return String(s).replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]);
}

export function plot(rows, summary) {
  const series = [
    ['RSS (MB)', (r) => r.rssMb, '#1f77b4'],
    ['Heap used (MB)', (r) => r.heapUsedMb, '#2ca02c'],
    ['Event-loop delay p99 (ms)', (r) => r.eldP99Ms, '#d62728'],
    ['Deliveries / s', (r) => r.deliveriesPerS, '#9467bd'],
  ];
  const H = PAD.top + series.length * (PANEL + PAD.gap) + 20;
  const tMax = Math.max(1, ...rows.map((r) => r.elapsedS));
  const x = (t) => PAD.left + ((W - PAD.left - PAD.right) * t) / tMax;
  const warmEnd = rows[Math.floor(rows.length * summary.options.warmup)]?.elapsedS ?? 0;
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`, `<rect width="${W}" height="${H}" fill="white"/>`];
  const c = summary.connections;
  out.push(`<text x="${PAD.left}" y="22" font-size="15" font-weight="bold">Herald soak: ${esc(summary.verdict)} — ${c.sse + c.ws + c.poll} connections (sse ${c.sse}, ws ${c.ws}, poll ${c.poll}), ${summary.options.rate} msg/s, ${summary.options.churn} churn/s</text>`);
  out.push(`<text x="${PAD.left}" y="40">lost ${summary.lost}, resets ${summary.resetsTold}, RSS Δ ${summary.rss.growthMb} MB, heap Δ ${summary.heap.growthMb} MB after warm-up (shaded)</text>`);
  if (summary.note) out.push(`<text x="${PAD.left}" y="56" fill="#555">${esc(summary.note)}</text>`);
  series.forEach(([label, get, color], i) => {
    const top = PAD.top + i * (PANEL + PAD.gap);
    const vals = rows.map(get).filter(Number.isFinite);
    const vMax = Math.max(1e-9, ...vals) * 1.1;
    const y = (v) => top + PANEL - (PANEL * v) / vMax;
    out.push(`<rect x="${PAD.left}" y="${top}" width="${x(warmEnd) - PAD.left}" height="${PANEL}" fill="#eee"/>`);
    out.push(`<rect x="${PAD.left}" y="${top}" width="${W - PAD.left - PAD.right}" height="${PANEL}" fill="none" stroke="#999"/>`);
    out.push(`<text x="${PAD.left + 6}" y="${top + 14}">${esc(label)}</text>`);
    out.push(`<text x="${PAD.left - 6}" y="${top + 10}" text-anchor="end">${vMax.toFixed(vMax < 10 ? 1 : 0)}</text><text x="${PAD.left - 6}" y="${top + PANEL}" text-anchor="end">0</text>`);
    const pts = rows.filter((r) => Number.isFinite(get(r))).map((r) => `${x(r.elapsedS).toFixed(1)},${y(get(r)).toFixed(1)}`).join(' ');
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${pts}"/>`);
  });
  out.push(`<text x="${W / 2}" y="${H - 6}" text-anchor="middle">elapsed (s), 0 … ${tMax}</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}
