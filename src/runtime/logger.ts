// Logging for every process: pino, JSON lines by default (what log collectors in a cluster want),
// human-readable when stdout is a terminal.
import { pino } from 'pino';
import pretty from 'pino-pretty';

export type Logger = pino.Logger;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LoggerOptions {
  level?: LogLevel;
  name?: string;
  /** Force readable (true) or JSON (false) output; by default readable only on a TTY. */
  pretty?: boolean;
  /** Where to write; stdout by default. */
  destination?: NodeJS.WritableStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const readable = options.pretty ?? (options.destination === undefined && process.stdout.isTTY === true);
  const base = { level: options.level ?? 'info', ...(options.name ? { name: options.name } : {}) };
  if (readable) {
    return pino(base, pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }));
  }
  return options.destination ? pino(base, options.destination) : pino(base);
}
