/**
 * Imported first by the bench's entry points: the bench process becomes node with the flags the
 * CLI gives itself on this machine (`--single-threaded-gc` where there are two cores or fewer;
 * src/util/node-flags.ts), so the replays and the comparison it runs in-process are measured as
 * `reprocess replay` and `reprocess compare` run. REPROCESS_SINGLE_THREADED_GC=0 or 1 decides,
 * as for the CLI.
 */
import { relaunchWithNodeFlags } from '../dist/util/node-flags.js';

relaunchWithNodeFlags();
