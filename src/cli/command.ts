// The shape of one `dynamo` subcommand: a table of options and an entry point. A command file parses
// nothing itself and holds no logic: it builds a config from its validated options and calls into
// operator/, frontend/, worker/, ... (DESIGN §4).
import { z } from 'zod';
import { createLogger, LOG_LEVELS, type Logger } from '../runtime/logger.js';
import type { OptionTable, OptionValues } from './options.js';

/** Options every command takes. */
export const COMMON_OPTIONS = {
  logLevel: {
    flag: 'log-level',
    env: 'DYN_LOG',
    schema: z.enum(LOG_LEVELS).default('info'),
    description: 'log level',
    placeholder: '<level>',
  },
} satisfies OptionTable;

export interface CommandContext {
  log: Logger;
  positionals: string[];
  /** Aborted on SIGINT / SIGTERM: long-running commands stop cleanly when it fires. */
  signal: AbortSignal;
}

export interface Command<T extends OptionTable = OptionTable> {
  name: string;
  summary: string;
  /** Text after `dynamo <name>` in the usage line, e.g. `[options] < prompt.txt`. */
  usage?: string;
  /** Extra lines for --help (examples). */
  details?: string;
  allowPositionals?: boolean;
  options: T;
  /** Resolves to the exit status (0 when void). */
  run(values: OptionValues<T & typeof COMMON_OPTIONS>, ctx: CommandContext): Promise<number | undefined>;
}

export function defineCommand<T extends OptionTable>(command: Command<T>): Command<T> {
  return command;
}

export function commandLogger(name: string, level: z.output<typeof COMMON_OPTIONS.logLevel.schema>): Logger {
  return createLogger({ name, level });
}
