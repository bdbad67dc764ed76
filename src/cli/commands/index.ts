import type { Command } from '../command.js';
import { compareCommand } from './compare.js';
import { datasetsCommand, promoteCommand, rollbackCommand } from './datasets.js';
import { demoCommand } from './demo.js';
import { doctorCommand } from './doctor.js';
import { planCommand } from './plan.js';
import { replayCommand } from './replay.js';
import { stackCommand } from './stack.js';
import { statusCommand } from './status.js';
import { throttleCommand } from './throttle.js';

/** Every command, in the order `reprocess --help` lists them. */
export const commands: Command[] = [demoCommand, planCommand, replayCommand, statusCommand, throttleCommand, compareCommand, datasetsCommand, promoteCommand, rollbackCommand, stackCommand, doctorCommand];
