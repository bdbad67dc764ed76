import type { Command } from '../command.js';
import { doctorCommand } from './doctor.js';
import { stackCommand } from './stack.js';

/** Every command, in the order `reprocess --help` lists them. */
export const commands: Command[] = [stackCommand, doctorCommand];
