// Entry point of the `dynamo` command: finds the subcommand, parses its options, runs it, and turns
// the outcome into an exit status. Usage errors exit 2 with one line naming the bad flag or value.
import { z } from 'zod';
import { COMMON_OPTIONS, type Command, commandLogger } from './command.js';
import { COMMANDS } from './commands/index.js';
import { formatOptions, parseOptions, UsageError } from './options.js';
import { explainStartupError, oneLine } from './startup-errors.js';

function topLevelHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return [
    'Usage: dynamo <command> [options]',
    '',
    'Kubernetes-first LLM inference platform: operator, OpenAI frontend, workers.',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    '',
    "Run 'dynamo <command> --help' for a command's options.",
  ].join('\n');
}

const HELP_OPTION = {
  flag: 'help',
  short: 'h',
  kind: 'boolean',
  schema: z.boolean().default(false),
  description: 'show this help',
} as const;

function commandHelp(command: Command): string {
  const table = { ...command.options, ...COMMON_OPTIONS };
  return [
    `Usage: dynamo ${command.name} ${command.usage ?? '[options]'}`,
    '',
    `${command.summary[0]?.toUpperCase() ?? ''}${command.summary.slice(1)}.`,
    '',
    'Options:',
    formatOptions({ ...table, help: HELP_OPTION }),
    ...(command.details ? ['', command.details] : []),
  ].join('\n');
}

export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${topLevelHelp()}\n`);
    return name === undefined ? 2 : 0;
  }
  const entry = COMMANDS.find((c) => c.name === name);
  if (!entry) {
    process.stderr.write(`dynamo: unknown command '${name}'\n\n${topLevelHelp()}\n`);
    return 2;
  }
  const command = await entry.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${commandHelp(command)}\n`);
    return 0;
  }
  const table = { ...command.options, ...COMMON_OPTIONS };
  const { values, positionals } = parseOptions(table, rest, process.env, {
    allowPositionals: command.allowPositionals ?? false,
  });
  const controller = new AbortController();
  const stop = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      process.exit(130); // a second Ctrl-C: do not wait for a clean stop
    }
    controller.abort(new Error(`received ${signal}`));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const log = commandLogger(command.name, values.logLevel);
  try {
    return (await command.run(values, { log, positionals, signal: controller.signal })) ?? 0;
  } catch (err) {
    if (err instanceof UsageError) throw err;
    // One line that names the cause (and the option to change); the stack only when debugging.
    const debugging = values.logLevel === 'debug' || values.logLevel === 'trace';
    const line = explainStartupError(err, table, values) ?? oneLine(err);
    process.stderr.write(`dynamo ${command.name}: ${line}\n`);
    if (debugging && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`dynamo: ${err.message}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`dynamo: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    }
  },
);
