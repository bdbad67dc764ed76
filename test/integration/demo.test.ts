import { describe, expect, it } from 'vitest';
import { cli, cliProcess } from '../support/cli.js';

describe('reprocess demo', () => {
  it('tells the whole story end to end, and a second run starts clean', { timeout: 300_000 }, async () => {
    for (const run of [1, 2]) {
      const r = await cliProcess(['demo']);
      expect(r.code, r.stderr).toBe(0);
      // The first run writes the history unless an earlier demo left it; the second always reuses it.
      if (run === 2) expect(r.stdout).toContain('Reusing the raw `events` topic (182,000 events');
      else expect(r.stdout).toMatch(/Writing 91 days of raw history|Reusing the raw `events` topic/);
      expect(r.stdout).toContain('user_engagement v2 is live now');
      expect(r.stdout).toContain('PASSED');
      expect(r.stdout).toMatch(/country\s+BR\s+revenue_usd/);
      expect(r.stdout).toContain('user_engagement v3 is live now');
      expect(r.stdout).toContain('rollback: live is v2 again');
      expect(r.stdout).toContain('promote: live is v3');
    }
    const d = JSON.parse((await cli(['datasets', 'user_engagement', '--json'])).stdout) as { live: number; history: { action: string }[] };
    expect(d.live).toBe(3);
    // The second run started the dataset over: one story's history, not two.
    expect(d.history.map((h) => h.action)).toEqual(['promote', 'promote', 'rollback', 'promote']);
  });
});
