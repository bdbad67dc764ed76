import { LineCounter, parseDocument, type Document } from 'yaml';

/** Parse YAML keeping line positions; syntax errors come back as "<label>:<line>: <what>" lines. */
export function parseYaml(text: string, label: string): { doc: Document.Parsed; lines: LineCounter; problems: string[] } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  const problems = doc.errors.map((e) => {
    // yaml's messages end with " at line N, column M:" and a code frame; the line goes up front instead.
    const what = (e.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
    return `${label}:${String(e.linePos?.[0].line ?? 1)}: YAML syntax: ${what}`;
  });
  return { doc, lines, problems };
}
