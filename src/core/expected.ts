import { isMap, isNode, isScalar, isSeq, type Node } from 'yaml';
import { ReprocessError } from '../errors.js';
import { parseYaml } from './yaml.js';

/**
 * One documented, accepted difference between the live version and the candidate. The gate
 * does not count it as a failure when the observed relative difference is ≤ max.
 *
 *   - dimension: country          # a validate.dimensions entry, or "total"
 *     value: DE                   # optional; absent = every value of the dimension; never with "total"
 *     metric: revenue             # "count", a validate.measures entry, or "nulls.<a validate.nulls entry>"
 *     max: 0.08                   # optional; largest accepted |new-old|/|old|; absent = any
 *     reason: VAT fix (JIRA-123)  # required
 */
export interface ExpectedDifference {
  dimension: string;
  value: string | null;
  metric: string;
  max: number | null;
  reason: string;
  /** 1-based line of the item in its file, for reports. */
  line: number;
}

export interface ExpectedVocabulary {
  dimensions: readonly string[];
  measures: readonly string[];
  nulls: readonly string[];
}

const ITEM_KEYS = ['dimension', 'value', 'metric', 'max', 'reason'] as const;

/** Parse and validate an expected-differences file; throws one SPEC_INVALID listing every problem. */
export function parseExpected(text: string, vocabulary: ExpectedVocabulary, fileLabel: string): ExpectedDifference[] {
  const { items, problems } = checkExpected(text, vocabulary, fileLabel);
  if (problems.length > 0) {
    throw new ReprocessError('SPEC_INVALID', `expected-differences file ${fileLabel} is invalid:\n  ${problems.join('\n  ')}`, {
      hint: 'Fix the listed items; each needs dimension, metric and a non-empty reason.',
      context: { file: fileLabel },
    });
  }
  return items;
}

/** The collecting form of parseExpected, for the spec loader to merge into its own report. */
export function checkExpected(
  text: string,
  vocabulary: ExpectedVocabulary,
  fileLabel: string,
): { items: ExpectedDifference[]; problems: string[] } {
  const { doc, lines, problems } = parseYaml(text, fileLabel);
  const lineOf = (node: Node | null | undefined): number => (node?.range ? lines.linePos(node.range[0]).line : 1);
  if (problems.length > 0) return { items: [], problems };
  const root = doc.contents;
  if (root === null || (isScalar(root) && root.value === null)) return { items: [], problems }; // empty file: nothing expected
  if (!isSeq(root)) {
    problems.push(`${fileLabel}:${String(lineOf(root))}: the file must be a YAML list of items (- dimension: …, metric: …, reason: …)`);
    return { items: [], problems };
  }

  const metrics = new Set(['count', ...vocabulary.measures, ...vocabulary.nulls.map((f) => `nulls.${f}`)]);
  const items: ExpectedDifference[] = [];
  const seen = new Map<string, number>();
  root.items.forEach((node, index) => {
    const n = index + 1;
    const itemLine = isNode(node) ? lineOf(node) : 1;
    const at = (line: number, key?: string): string => `${fileLabel}:${String(line)}: item ${String(n)}${key ? `, ${key}` : ''}`;
    if (!isMap(node)) {
      problems.push(`${at(itemLine)}: must be a mapping with dimension, metric and reason`);
      return;
    }
    const fields = new Map<string, { value: unknown; line: number }>();
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      const keyLine = isScalar(pair.key) ? lineOf(pair.key) : itemLine;
      if (!(ITEM_KEYS as readonly string[]).includes(key)) {
        problems.push(`${at(keyLine, key)}: unknown key; allowed keys: ${ITEM_KEYS.join(', ')}`);
        continue;
      }
      if (!isScalar(pair.value)) {
        problems.push(`${at(keyLine, key)}: must be a single value, not a list or mapping`);
        continue;
      }
      fields.set(key, { value: pair.value.value, line: keyLine });
    }
    const before = problems.length;
    const str = (key: string, required: boolean): string | null => {
      const f = fields.get(key);
      if (f === undefined || f.value === null) {
        if (required) problems.push(`${at(itemLine, key)}: missing; it is required`);
        return null;
      }
      if (typeof f.value !== 'string' || f.value.trim() === '') {
        problems.push(`${at(f.line, key)}: must be a non-empty string`);
        return null;
      }
      return f.value;
    };

    const dimension = str('dimension', true);
    if (dimension !== null && dimension !== 'total' && !vocabulary.dimensions.includes(dimension)) {
      problems.push(`${at(fields.get('dimension')?.line ?? itemLine, 'dimension')}: "${dimension}" is not in validate.dimensions (${list(vocabulary.dimensions)}) and is not "total"`);
    }
    const metric = str('metric', true);
    if (metric !== null && !metrics.has(metric)) {
      problems.push(`${at(fields.get('metric')?.line ?? itemLine, 'metric')}: "${metric}" is not one of ${list([...metrics])}`);
    }
    const reason = str('reason', true);

    let value: string | null = null;
    const v = fields.get('value');
    if (v !== undefined && v.value !== null) {
      if (typeof v.value === 'string' || (typeof v.value === 'number' && Number.isFinite(v.value))) value = String(v.value);
      else problems.push(`${at(v.line, 'value')}: must be a string or a number`);
      if (dimension === 'total') problems.push(`${at(v.line, 'value')}: "total" has no values; remove value or name a dimension`);
    }

    let max: number | null = null;
    const m = fields.get('max');
    if (m !== undefined && m.value !== null) {
      if (typeof m.value === 'number' && Number.isFinite(m.value) && m.value >= 0) max = m.value;
      else problems.push(`${at(m.line, 'max')}: must be a non-negative number (a relative difference: 0.08 is 8%)`);
    }

    if (problems.length > before || dimension === null || metric === null || reason === null) return;
    const id = JSON.stringify([dimension, value, metric]);
    const first = seen.get(id);
    if (first !== undefined) {
      problems.push(`${at(itemLine)}: repeats item ${String(first)} (same dimension, value and metric); merge them`);
      return;
    }
    seen.set(id, n);
    items.push({ dimension, value, metric, max, reason: reason.trim(), line: itemLine });
  });
  // Checks run key by key; report in file order instead. Every problem starts "<label>:<line>:".
  const lineIn = (p: string): number => Number(p.slice(fileLabel.length + 1).split(':')[0]);
  problems.sort((a, b) => lineIn(a) - lineIn(b));
  return { items, problems };
}

function list(values: readonly string[]): string {
  return values.length === 0 ? 'none' : values.join(', ');
}
