import { parseBytes, parseRate } from '../../core/index.js';
import { ReprocessError } from '../../errors.js';
import { readRunRate, setRunRate } from '../../replay/redis-throttle.js';
import { RunStore } from '../../runs/store.js';
import { EXIT, type Command } from '../command.js';
import { formatBytes, formatCount } from '../progress.js';
import { openServices } from '../services.js';

export const throttleCommand: Command = {
  name: 'throttle',
  summary: 'Change a running replay\'s rate; every worker follows within a second.',
  usage: 'reprocess throttle <run-id> <rate> [--bytes B]',
  description: 'The rate is shared by all workers of the run (one token bucket in Redis). Give records per\nsecond (5000, 5000/s, 300000/m) or `off` to lift the limit. `--bytes` sets the byte budget too.',
  options: {
    bytes: { type: 'string', valueName: 'B', description: 'Bytes per second (e.g. 50MiB), or `off`.', defaultText: 'unchanged' },
  },
  examples: ['reprocess throttle ue-v3-backfill 5000/s', 'reprocess throttle ue-v3-backfill off', 'reprocess throttle ue-v3-backfill 20000 --bytes 50MiB'],
  minPositionals: 2,
  maxPositionals: 2,
  async run({ positionals, values, io, logger }) {
    const [runId = '', rateText = ''] = positionals;
    let records: number | null;
    try {
      records = rateText === 'off' || rateText === 'none' ? null : parseRate(rateText);
    } catch (cause) {
      throw new ReprocessError('USAGE', `"${rateText}" is not a rate; give records per second like 5000/s, or off.`, { cause });
    }
    let bytes: number | null | undefined;
    if (typeof values.bytes === 'string') {
      try {
        bytes = values.bytes === 'off' ? null : parseBytes(values.bytes);
      } catch (cause) {
        throw new ReprocessError('USAGE', `--bytes "${values.bytes}" is not a size; give e.g. 50MiB, or off.`, { cause });
      }
    }
    const services = openServices(io.env, logger());
    try {
      const redis = await services.redis();
      if (!(await new RunStore(redis).get(runId))) throw new ReprocessError('RUN_NOT_FOUND', `no run "${runId}" is known.`, { hint: 'List runs with `reprocess status`.' });
      await setRunRate(redis, runId, bytes === undefined ? { recordsPerSec: records } : { recordsPerSec: records, bytesPerSec: bytes });
      const now = await readRunRate(redis, runId);
      io.stdout(`run ${runId}: rate ${now?.recordsPerSec ? `${formatCount(now.recordsPerSec)} records/s` : 'unlimited'}${now?.bytesPerSec ? `, ${formatBytes(now.bytesPerSec)}/s` : ''}${now && now.factor < 1 ? ` (adaptive back-off at ${Math.round(now.factor * 100)}%)` : ''}\n`);
      return EXIT.OK;
    } finally {
      await services.close();
    }
  },
};
