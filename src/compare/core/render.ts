import { formatChange, formatNumber, formatRelDiff, formatShare } from './format.js';
import type { BucketResult, ExpectationMatch, GateReport, TotalResult, ValueDifference } from './gate.js';
import type { KeyStats } from './types.js';

/** A difference row as both renderers list it: a dimension value's metric, or a total ("total", value ""). */
interface Row extends ValueDifference {
  dimension: string;
  isRate: boolean;
}

const TABLE_LIMIT = 50;
const HTML_LIMIT = 100;

function totalRow(t: TotalResult): Row {
  return { dimension: 'total', value: '', ...t, onlyIn: null, isRate: t.nulls !== null };
}

function valueRow(dimension: string, v: ValueDifference): Row {
  return { dimension, ...v, isRate: false };
}

function byRelDiffDesc(a: Row, b: Row): number {
  const x = a.relDiff ?? Infinity;
  const y = b.relDiff ?? Infinity;
  return x === y ? 0 : x > y ? -1 : 1;
}

/** Everything beyond tolerance: unexplained failures first, then explained ones; largest first within each. */
function beyondTolerance(report: GateReport): Row[] {
  const rows = [
    ...report.totals.filter((t) => !t.passed || t.expected !== null).map(totalRow),
    ...report.dimensions.flatMap((d) => d.failing.map((v) => valueRow(d.dimension, v))),
  ];
  return rows.sort((a, b) => Number(a.passed) - Number(b.passed) || byRelDiffDesc(a, b));
}

function showAmount(row: Row, v: number): string {
  return row.isRate ? formatShare(v) : formatNumber(v);
}

function showChange(row: Row): string {
  if (row.onlyIn !== null) return `only in ${row.onlyIn}`;
  return formatChange(row.old, row.new);
}

function showExpected(e: ExpectationMatch | null): string {
  if (e === null) return 'no';
  const max = e.max === null ? '' : ` up to ${formatRelDiff(e.max)}`;
  return e.exceeded ? `max exceeded (expected${max}: ${e.reason})` : `yes${max}: ${e.reason}`;
}

function verdict(report: GateReport): string {
  const n = report.failures.length;
  return report.passed ? 'PASSED' : `FAILED (${String(n)} failure${n === 1 ? '' : 's'})`;
}

function subject(report: GateReport): string {
  return (
    `${report.dataset} v${String(report.candidateVersion)} (candidate) vs v${String(report.liveVersion)} (live), ` +
    `${report.window.from} .. ${report.window.to}`
  );
}

function histogramOrder(label: string): number {
  const tail = /^([<>])=(-?[0-9]+)$/.exec(label);
  if (tail) return Number(tail[2]) + (tail[1] === '<' ? -0.5 : 0.5);
  const n = Number(label);
  return Number.isFinite(n) ? n : Number.MAX_VALUE;
}

function histogram(keys: KeyStats): [string, number][] {
  return Object.entries(keys.deltaHistogram).sort(([a], [b]) => histogramOrder(a) - histogramOrder(b));
}

// ───────────────────────── terminal ─────────────────────────

/** Data values may hold control characters; show them escaped so they cannot break the table or the terminal. */
function clean(text: string, max = 40): string {
  const safe = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return safe.length > max ? `${safe.slice(0, max - 1)}…` : safe;
}

function table(header: string[], rows: string[][], rightAligned: ReadonlySet<number>): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => {
        const w = widths[i] ?? c.length;
        return rightAligned.has(i) ? c.padStart(w) : c.padEnd(w);
      })
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].map((l) => `  ${l}`);
}

/** The terminal report: verdict first, then what differs, totals, dimensions, expectations, keys, buckets. */
export function renderTable(report: GateReport): string {
  const out: string[] = [`${verdict(report)}: ${clean(subject(report), 200)}`];
  out.push(`  tolerance ${formatRelDiff(report.tolerance)}, quorum ${formatShare(report.quorum)}`, '');

  const rows = beyondTolerance(report);
  if (rows.length === 0) {
    out.push('No difference beyond tolerance.', '');
  } else {
    out.push(`Differences beyond tolerance (${String(rows.length)})`);
    const shown = rows.slice(0, TABLE_LIMIT).map((r) => [
      r.passed ? 'ok' : 'FAIL',
      clean(r.dimension),
      clean(r.value),
      clean(r.metric),
      showAmount(r, r.old),
      showAmount(r, r.new),
      showChange(r),
      clean(showExpected(r.expected), 80),
    ]);
    out.push(...table(['', 'DIMENSION', 'VALUE', 'METRIC', 'LIVE', 'CANDIDATE', 'DIFF', 'EXPECTED'], shown, new Set([4, 5, 6])));
    if (rows.length > TABLE_LIMIT) out.push(`  … and ${String(rows.length - TABLE_LIMIT)} more (see the JSON or HTML report)`);
    out.push('');
  }

  out.push('Totals');
  out.push(
    ...table(
      ['METRIC', 'LIVE', 'CANDIDATE', 'DIFF', 'STATUS'],
      report.totals.map((t) => {
        const r = totalRow(t);
        const status = t.expected === null ? (t.passed ? 'ok' : 'FAIL') : `${t.passed ? 'ok' : 'FAIL'}, expected: ${showExpected(t.expected)}`;
        return [clean(t.metric), showAmount(r, t.old), showAmount(r, t.new), showChange(r), clean(status, 100)];
      }),
      new Set([1, 2, 3]),
    ),
    '',
  );

  if (report.dimensions.length > 0) {
    out.push(`Dimensions (quorum ${formatShare(report.quorum)})`);
    out.push(
      ...table(
        ['DIMENSION', 'VALUES', 'PASSING', 'SHARE', 'STATUS'],
        report.dimensions.map((d) => [
          clean(d.dimension),
          formatNumber(d.values),
          formatNumber(d.passingValues),
          formatShare(d.passingShare),
          d.passed ? 'ok' : 'FAIL',
        ]),
        new Set([1, 2, 3]),
      ),
      '',
    );
  }

  const { used, unused } = report.expectations;
  if (used.length + unused.length > 0) {
    out.push('Expectations');
    for (const e of used) {
      const explained = e.covered > 0 ? `explained ${String(e.covered)} (${clean(e.values.slice(0, 10).join(', '), 120)}${e.values.length > 10 ? ', …' : ''})` : 'explained none';
      const exceeded = e.exceeded.length > 0 ? `; max exceeded by ${clean(e.exceeded.map((x) => `${x.value} ${formatRelDiff(x.relDiff)}`).join(', '), 120)}` : '';
      out.push(`  used    line ${String(e.line)}: ${clean(expectationName(e), 80)}: ${explained}${exceeded} — ${clean(e.reason, 120)}`);
    }
    for (const e of unused) out.push(`  unused  line ${String(e.line)}: ${clean(expectationName(e), 80)} — ${clean(e.reason, 120)} (never needed)`);
    out.push('');
  }

  if (report.keys !== null) {
    const k = report.keys;
    const examples = (list: string[]): string => (list.length === 0 ? '' : ` (e.g. ${clean(list.slice(0, 3).join(', '), 80)})`);
    out.push('Keys');
    out.push(`  distinct: live ${formatNumber(k.distinctLive)}, candidate ${formatNumber(k.distinctCandidate)}, in both ${formatNumber(k.inBoth)}`);
    out.push(`  only in live ${formatNumber(k.onlyInLive)}${examples(k.examples.onlyInLive)}`);
    out.push(`  only in candidate ${formatNumber(k.onlyInCandidate)}${examples(k.examples.onlyInCandidate)}`);
    out.push(`  record count differs ${formatNumber(k.countMismatch)}${examples(k.examples.countMismatch)}`);
    const h = histogram(k);
    if (h.length > 0) out.push(`  records per key, candidate - live: ${h.map(([label, n]) => `${clean(label)}: ${formatNumber(n)}`).join(', ')}`);
    out.push('');
  }

  if (report.buckets.length > 0) {
    const bad = report.buckets.filter((b) => b.judgement !== 'pass');
    out.push(`Buckets: ${String(report.buckets.length)}, ${String(bad.length)} beyond tolerance`);
    for (const b of bad.slice(0, 10)) {
      out.push(`  ${b.start}  live ${formatNumber(b.old)}, candidate ${formatNumber(b.new)} (${formatChange(b.old, b.new)})${b.judgement === 'abort' ? ', past the abort threshold' : ''}`);
    }
    if (bad.length > 10) out.push(`  … and ${String(bad.length - 10)} more`);
    out.push('');
  }
  return `${out.join('\n').trimEnd()}\n`;
}

function expectationName(e: { dimension: string; value: string | null; metric: string; max: number | null }): string {
  const where = e.dimension === 'total' ? 'total' : e.value === null ? `${e.dimension} (any value)` : `${e.dimension}=${e.value}`;
  return `${where} ${e.metric}${e.max === null ? '' : ` up to ${formatRelDiff(e.max)}`}`;
}

// ───────────────────────── HTML ─────────────────────────

/** Escape text for HTML element content and quoted attribute values alike. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${String(c.charCodeAt(0))};`);
}

const e = escapeHtml;

function n(x: number): string {
  return (Math.round(x * 10) / 10).toString();
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0}h2{font-size:17px;margin:28px 0 8px}
.verdict{padding:18px 24px;border-radius:8px;color:#fff}
.verdict.pass{background:#1f7a3d}.verdict.fail{background:#b3261e}
.verdict p{margin:4px 0 0;opacity:.95}
ul.failures{background:#fff3f2;border:1px solid #f0c4c0;border-radius:6px;padding:10px 10px 10px 30px}
table{border-collapse:collapse;background:#fff;width:100%;margin:4px 0}
th,td{border-bottom:1px solid #e3e6eb;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#eef0f4;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.bad{color:#b3261e;font-weight:600}.ok{color:#1f7a3d}.exp{color:#8a5a00}
.card{background:#fff;border:1px solid #e3e6eb;border-radius:6px;padding:8px}
.muted{color:#667085}
svg text{font:11px system-ui,sans-serif;fill:#475467}
`;

/** One self-contained page: no scripts, no external assets; every data value escaped. */
export function renderHtml(report: GateReport): string {
  const title = `${report.passed ? 'PASSED' : 'FAILED'}: ${report.dataset} v${String(report.candidateVersion)} vs v${String(report.liveVersion)}`;
  const parts: string[] = [];
  parts.push(
    `<div class="verdict ${report.passed ? 'pass' : 'fail'}"><h1>${e(verdict(report))}</h1>`,
    `<p>${e(subject(report))}</p>`,
    `<p>tolerance ${e(formatRelDiff(report.tolerance))} · quorum ${e(formatShare(report.quorum))} · generated ${e(report.generatedAt)}</p></div>`,
  );
  if (report.failures.length > 0) {
    parts.push(`<ul class="failures">${report.failures.map((f) => `<li>${e(f)}</li>`).join('')}</ul>`);
  }

  parts.push('<h2>Records per bucket</h2>', `<div class="card">${bucketChart(report.buckets)}</div>`);

  const rows = largestDifferences(report);
  parts.push('<h2>Largest differences</h2>');
  if (rows.length === 0) parts.push('<p class="muted">No differences at all.</p>');
  else {
    parts.push(`<div class="card">${differenceChart(rows.slice(0, 15), report.tolerance)}</div>`);
    parts.push(
      htmlTable(
        ['Status', 'Dimension', 'Value', 'Metric', 'Live', 'Candidate', 'Change', 'Expected'],
        rows.map((r) => [
          statusCell(r.passed, r.expected),
          e(r.dimension),
          e(r.value),
          e(r.metric),
          num(showAmount(r, r.old)),
          num(showAmount(r, r.new)),
          num(showChange(r)),
          e(showExpected(r.expected)),
        ]),
      ),
    );
  }

  parts.push('<h2>Totals</h2>');
  parts.push(
    htmlTable(
      ['Status', 'Metric', 'Live', 'Candidate', 'Change', 'Expected'],
      report.totals.map((t) => {
        const r = totalRow(t);
        return [statusCell(t.passed, t.expected), e(t.metric), num(showAmount(r, t.old)), num(showAmount(r, t.new)), num(showChange(r)), e(showExpected(t.expected))];
      }),
    ),
  );

  if (report.dimensions.length > 0) {
    parts.push(`<h2>Dimensions</h2><p class="muted">Each dimension passes when at least ${e(formatShare(report.quorum))} of its values differ by less than ${e(formatRelDiff(report.tolerance))} on count and every measure.</p>`);
    parts.push(
      htmlTable(
        ['Status', 'Dimension', 'Values', 'Passing', 'Share', 'Largest differences'],
        report.dimensions.map((d) => [
          statusCell(d.passed, null),
          e(d.dimension),
          num(formatNumber(d.values)),
          num(formatNumber(d.passingValues)),
          num(formatShare(d.passingShare)),
          d.worst.length === 0
            ? '<span class="muted">none</span>'
            : d.worst.slice(0, 3).map((w) => e(`${w.value} ${w.metric} ${w.onlyIn === null ? formatChange(w.old, w.new) : `only in ${w.onlyIn}`}`)).join('<br>'),
        ]),
      ),
    );
  }

  const { used, unused } = report.expectations;
  parts.push('<h2>Expectations</h2>');
  if (used.length + unused.length === 0) parts.push('<p class="muted">No expected differences were listed.</p>');
  else {
    parts.push(
      htmlTable(
        ['', 'Line', 'Expectation', 'Explained', 'Max exceeded by', 'Reason'],
        [
          ...used.map((x) => [
            '<span class="exp">used</span>',
            num(String(x.line)),
            e(expectationName(x)),
            e(`${String(x.covered)}${x.values.length > 0 ? `: ${x.values.join(', ')}` : ''}`),
            x.exceeded.length === 0 ? '' : `<span class="bad">${e(x.exceeded.map((y) => `${y.value} ${formatRelDiff(y.relDiff)}`).join(', '))}</span>`,
            e(x.reason),
          ]),
          ...unused.map((x) => ['<span class="muted">unused</span>', num(String(x.line)), e(expectationName(x)), '<span class="muted">never needed</span>', '', e(x.reason)]),
        ],
      ),
    );
  }

  if (report.keys !== null) {
    const k = report.keys;
    const ex = (list: string[]): string => e(list.join(', '));
    parts.push('<h2>Keys</h2>');
    parts.push(
      htmlTable(
        ['', 'Keys', 'Examples'],
        [
          ['distinct in live', num(formatNumber(k.distinctLive)), ''],
          ['distinct in candidate', num(formatNumber(k.distinctCandidate)), ''],
          ['in both', num(formatNumber(k.inBoth)), ''],
          ['only in live', num(formatNumber(k.onlyInLive)), ex(k.examples.onlyInLive)],
          ['only in candidate', num(formatNumber(k.onlyInCandidate)), ex(k.examples.onlyInCandidate)],
          ['in both, record count differs', num(formatNumber(k.countMismatch)), ex(k.examples.countMismatch)],
        ],
      ),
    );
    const h = histogram(k);
    if (h.length > 0) {
      parts.push('<p class="muted">Records per key, candidate minus live:</p>');
      parts.push(htmlTable(h.map(([label]) => e(label)), [h.map(([, count]) => num(formatNumber(count)))]));
    }
  }

  if (report.buckets.length > 0) {
    parts.push(
      `<h2>Buckets</h2><details><summary>${e(`${String(report.buckets.length)} buckets, ${String(report.buckets.filter((b) => b.judgement !== 'pass').length)} beyond tolerance`)}</summary>`,
      htmlTable(
        ['Start', 'Live', 'Candidate', 'Change', 'Judgement'],
        report.buckets.map((b) => [e(b.start), num(formatNumber(b.old)), num(formatNumber(b.new)), num(formatChange(b.old, b.new)), b.judgement === 'pass' ? '<span class="ok">pass</span>' : `<span class="bad">${e(b.judgement)}</span>`]),
      ),
      '</details>',
    );
  }

  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${e(title)}</title>`,
    `<style>${CSS}</style>`,
    '</head>',
    '<body><main>',
    ...parts,
    `<p class="muted">Report schema ${String(report.schema)}.</p>`,
    '</main></body>',
    '</html>',
    '',
  ].join('\n');
}

/** Cells are HTML already (escaped by the caller); a cell that is a whole <td> (from num) is used as is. */
function htmlTable(header: string[], rows: string[][]): string {
  const head = `<tr>${header.map((h) => `<th>${h}</th>`).join('')}</tr>`;
  const body = rows.map((r) => `<tr>${r.map((c) => (c.startsWith('<td') ? c : `<td>${c}</td>`)).join('')}</tr>`).join('\n');
  return `<table>\n<thead>${head}</thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
}

function num(text: string): string {
  return `<td class="num">${e(text)}</td>`;
}

function statusCell(passed: boolean, expected: ExpectationMatch | null): string {
  if (!passed) return expected?.exceeded === true ? '<span class="bad">FAIL (max exceeded)</span>' : '<span class="bad">FAIL</span>';
  return expected === null ? '<span class="ok">ok</span>' : '<span class="exp">expected</span>';
}

/** Beyond-tolerance rows first (unexplained, then explained), then the other largest non-zero differences. */
function largestDifferences(report: GateReport): Row[] {
  const beyond = beyondTolerance(report);
  const seen = new Set(beyond.map((r) => `${r.dimension}\u0000${r.value}\u0000${r.metric}`));
  const rest = [
    ...report.totals.filter((t) => t.relDiff !== 0).map(totalRow),
    ...report.dimensions.flatMap((d) => d.worst.map((v) => valueRow(d.dimension, v))),
  ]
    .filter((r) => !seen.has(`${r.dimension}\u0000${r.value}\u0000${r.metric}`))
    .sort(byRelDiffDesc);
  return [...beyond, ...rest].slice(0, HTML_LIMIT);
}

const W = 900;

/** A line chart of record counts per bucket, live vs candidate; buckets beyond tolerance are shaded. */
function bucketChart(buckets: BucketResult[]): string {
  if (buckets.length === 0) return '<p class="muted">No buckets: neither version has records in the window.</p>';
  const h = 260;
  const pad = { l: 70, r: 16, t: 28, b: 36 };
  const iw = W - pad.l - pad.r;
  const ih = h - pad.t - pad.b;
  const max = Math.max(1, ...buckets.map((b) => Math.max(b.old, b.new)));
  const step = buckets.length === 1 ? 0 : iw / (buckets.length - 1);
  const x = (i: number): number => pad.l + (buckets.length === 1 ? iw / 2 : i * step);
  const y = (v: number): number => pad.t + ih - (v / max) * ih;
  const band = buckets.length === 1 ? iw : step;
  const out: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${String(W)} ${String(h)}" width="100%" role="img" aria-label="Records per bucket, live and candidate">`];
  buckets.forEach((b, i) => {
    if (b.judgement === 'pass') return;
    out.push(`<rect x="${n(x(i) - band / 2)}" y="${String(pad.t)}" width="${n(band)}" height="${String(ih)}" fill="${b.judgement === 'abort' ? '#f7c6c2' : '#fde7c7'}"><title>${e(`${b.start}: ${b.judgement}`)}</title></rect>`);
  });
  for (const frac of [0, 0.5, 1]) {
    const yy = y(max * frac);
    out.push(`<line x1="${String(pad.l)}" x2="${String(W - pad.r)}" y1="${n(yy)}" y2="${n(yy)}" stroke="#e3e6eb"/>`);
    out.push(`<text x="${String(pad.l - 6)}" y="${n(yy + 4)}" text-anchor="end">${e(formatNumber(Math.round(max * frac)))}</text>`);
  }
  const line = (pick: (b: BucketResult) => number, color: string, dash: string): void => {
    const points = buckets.map((b, i) => `${n(x(i))},${n(y(pick(b)))}`).join(' ');
    out.push(`<polyline points="${points}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`);
  };
  line((b) => b.old, '#2e6fdb', '');
  line((b) => b.new, '#e07b00', ' stroke-dasharray="6 3"');
  if (buckets.length <= 120) {
    buckets.forEach((b, i) => {
      const tip = e(`${b.start}: live ${formatNumber(b.old)}, candidate ${formatNumber(b.new)} (${formatChange(b.old, b.new)})`);
      out.push(`<circle cx="${n(x(i))}" cy="${n(y(b.old))}" r="3" fill="#2e6fdb"><title>${tip}</title></circle>`);
      out.push(`<circle cx="${n(x(i))}" cy="${n(y(b.new))}" r="3" fill="#e07b00"><title>${tip}</title></circle>`);
    });
  }
  const first = buckets[0];
  const last = buckets[buckets.length - 1];
  if (first !== undefined) out.push(`<text x="${n(x(0))}" y="${String(h - 12)}" text-anchor="${buckets.length === 1 ? 'middle' : 'start'}">${e(first.start)}</text>`);
  if (last !== undefined && buckets.length > 1) out.push(`<text x="${n(x(buckets.length - 1))}" y="${String(h - 12)}" text-anchor="end">${e(last.start)}</text>`);
  out.push(
    `<rect x="${String(pad.l)}" y="8" width="12" height="3" fill="#2e6fdb"/><text x="${String(pad.l + 16)}" y="13">live</text>`,
    `<rect x="${String(pad.l + 60)}" y="8" width="12" height="3" fill="#e07b00"/><text x="${String(pad.l + 76)}" y="13">candidate</text>`,
    '</svg>',
  );
  return out.join('\n');
}

/** Horizontal bars of relative difference with the tolerance marked; infinite ones fill the width. */
function differenceChart(rows: Row[], tolerance: number): string {
  const rowH = 22;
  const pad = { l: 260, r: 90, t: 10, b: 10 };
  const h = pad.t + pad.b + rows.length * rowH;
  const iw = W - pad.l - pad.r;
  const finite = rows.map((r) => r.relDiff).filter((d): d is number => d !== null);
  const max = Math.max(tolerance, ...finite) || 1;
  const width = (d: number | null): number => (d === null ? iw : (d / max) * iw);
  const out: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${String(W)} ${String(h)}" width="100%" role="img" aria-label="Largest relative differences">`];
  rows.forEach((r, i) => {
    const yy = pad.t + i * rowH;
    const color = !r.passed ? '#b3261e' : r.expected !== null ? '#c48a00' : '#2e6fdb';
    const label = r.dimension === 'total' ? `total ${r.metric}` : `${r.dimension}=${r.value} ${r.metric}`;
    const short = label.length > 40 ? `${label.slice(0, 39)}…` : label;
    out.push(`<text x="${String(pad.l - 8)}" y="${n(yy + 15)}" text-anchor="end">${e(short)}<title>${e(label)}</title></text>`);
    out.push(`<rect x="${String(pad.l)}" y="${n(yy + 4)}" width="${n(Math.max(1, width(r.relDiff)))}" height="${String(rowH - 8)}" fill="${color}"/>`);
    out.push(`<text x="${n(pad.l + Math.max(1, width(r.relDiff)) + 6)}" y="${n(yy + 15)}">${e(r.onlyIn === null ? formatRelDiff(r.relDiff) : `only in ${r.onlyIn}`)}</text>`);
  });
  const tx = pad.l + width(tolerance);
  out.push(`<line x1="${n(tx)}" x2="${n(tx)}" y1="${String(pad.t)}" y2="${String(h - pad.b)}" stroke="#1d2330" stroke-dasharray="3 3"><title>${e(`tolerance ${formatRelDiff(tolerance)}`)}</title></line>`);
  out.push('</svg>');
  return out.join('\n');
}
