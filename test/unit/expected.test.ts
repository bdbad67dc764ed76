import { describe, expect, it } from 'vitest';
import { catchError, parseExpected } from './helpers.js';

const vocabulary = { dimensions: ['country', 'product_category'], measures: ['revenue'], nulls: ['country'] };

describe('parseExpected', () => {
  it('parses valid items with their line numbers', () => {
    const text = [
      '# fixes shipped with v3',
      '- dimension: country',
      '  value: DE',
      '  metric: revenue',
      '  max: 0.08',
      '  reason: VAT was double-counted in v2 (DATA-123)',
      '- dimension: total',
      '  metric: count',
      '  reason: bot traffic is now filtered',
      '- dimension: product_category',
      '  value: 17',
      '  metric: nulls.country',
      '  reason: geo lookup fixed',
    ].join('\n');
    expect(parseExpected(text, vocabulary, 'expected.yaml')).toEqual([
      { dimension: 'country', value: 'DE', metric: 'revenue', max: 0.08, reason: 'VAT was double-counted in v2 (DATA-123)', line: 2 },
      { dimension: 'total', value: null, metric: 'count', max: null, reason: 'bot traffic is now filtered', line: 7 },
      { dimension: 'product_category', value: '17', metric: 'nulls.country', max: null, reason: 'geo lookup fixed', line: 10 },
    ]);
  });

  it('accepts an empty file', () => {
    expect(parseExpected('', vocabulary, 'e.yaml')).toEqual([]);
    expect(parseExpected('# nothing yet\n', vocabulary, 'e.yaml')).toEqual([]);
  });

  it('names file, line, item and key for every problem at once', () => {
    const text = [
      '- dimension: country', //            1
      '  metric: revenue', //               2
      '- dimension: city', //               3
      '  metric: profit', //                4
      '  reason: ""', //                    5
      '  colour: blue', //                  6
      '- dimension: total', //              7
      '  value: DE', //                     8
      '  metric: count', //                 9
      '  max: -1', //                      10
      '  reason: x', //                    11
    ].join('\n');
    const err = catchError(() => parseExpected(text, vocabulary, 'exp.yaml'), 'SPEC_INVALID');
    const m = err.message;
    expect(m).toContain('exp.yaml:1: item 1, reason: missing');
    expect(m).toContain('exp.yaml:3: item 2, dimension: "city" is not in validate.dimensions (country, product_category)');
    expect(m).toContain('exp.yaml:4: item 2, metric: "profit" is not one of count, revenue, nulls.country');
    expect(m).toContain('exp.yaml:5: item 2, reason: must be a non-empty string');
    expect(m).toContain('exp.yaml:6: item 2, colour: unknown key; allowed keys: dimension, value, metric, max, reason');
    expect(m).toContain('exp.yaml:8: item 3, value: "total" has no values');
    expect(m).toContain('exp.yaml:10: item 3, max: must be a non-negative number');
    expect(m.split('\n')).toHaveLength(8);
  });

  it('refuses a duplicate item', () => {
    const item = '- {dimension: country, value: DE, metric: revenue, reason: r}\n';
    expect(catchError(() => parseExpected(item + item, vocabulary, 'e.yaml'), 'SPEC_INVALID').message).toContain(
      'e.yaml:2: item 2: repeats item 1',
    );
  });

  it('refuses a file that is not a list, and bad YAML with its line', () => {
    expect(catchError(() => parseExpected('dimension: country\n', vocabulary, 'e.yaml'), 'SPEC_INVALID').message).toContain(
      'must be a YAML list',
    );
    expect(catchError(() => parseExpected('- a: 1\n- [b\n', vocabulary, 'e.yaml'), 'SPEC_INVALID').message).toMatch(/e\.yaml:\d+: YAML syntax/);
    expect(catchError(() => parseExpected('- just a string\n', vocabulary, 'e.yaml'), 'SPEC_INVALID').message).toContain(
      'item 1: must be a mapping',
    );
  });
});
