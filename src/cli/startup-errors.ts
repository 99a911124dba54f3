// A command that fails to start says so in one line that names the cause and the option to change
// (`--system-port`, `--http-port`, `--etcd`, ...): the stack trace is for --log-level debug.
import { causeText, ServiceUnreachableError } from '../runtime/index.js';
import type { OptionTable } from './options.js';

interface ListenError extends Error {
  code: 'EADDRINUSE' | 'EACCES' | 'EADDRNOTAVAIL';
  port?: number;
  address?: string;
}

const LISTEN_CODES = new Set(['EADDRINUSE', 'EACCES', 'EADDRNOTAVAIL']);

function isListenError(err: unknown): err is ListenError {
  if (!(err instanceof Error)) return false;
  const e = err as Error & { code?: string; syscall?: string };
  return e.syscall === 'listen' && LISTEN_CODES.has(e.code ?? '');
}

function optionName(table: OptionTable, key: string): string {
  const spec = table[key];
  if (spec === undefined) return key;
  return spec.env === undefined ? `--${spec.flag}` : `--${spec.flag} (or ${spec.env})`;
}

/** The option whose value is this port: which flag set the port that failed to open. */
function portOption(table: OptionTable, values: Record<string, unknown>, port: number): string | undefined {
  const keys = Object.keys(table).filter((k) => /port/i.test(table[k]?.flag ?? '') && values[k] === port);
  return keys.length === 0 ? undefined : keys.map((k) => optionName(table, k)).join(' or ');
}

/** One line for a startup failure this knows; undefined for anything else. */
export function explainStartupError(
  err: unknown,
  table: OptionTable,
  values: Record<string, unknown>,
): string | undefined {
  if (isListenError(err)) {
    const where = err.port === undefined ? (err.address ?? '?') : `${err.address ?? ''}:${err.port}`;
    const option = err.port === undefined ? undefined : portOption(table, values, err.port);
    const problem = {
      EADDRINUSE: `port ${err.port ?? '?'} is already in use (${where})`,
      EACCES: `no permission to listen on ${where}`,
      EADDRNOTAVAIL: `address ${err.address ?? '?'} is not an address of this machine`,
    }[err.code];
    return option === undefined ? problem : `${problem}: choose another with ${option}`;
  }
  if (err instanceof ServiceUnreachableError) {
    const key = err.service === 'etcd' ? 'etcd' : 'nats';
    const fix = key in table ? `; start it, or point ${optionName(table, key)} at yours` : '';
    return `${err.message}${fix}`;
  }
  return undefined;
}

/** The one line printed for a failure nothing explains: its message, without the stack. */
export function oneLine(err: unknown): string {
  return causeText(err);
}
