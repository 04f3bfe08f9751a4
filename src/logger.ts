import { pino, type Logger } from "pino";

export type { Logger };

/** Structured JSON logs (pino); one root logger, children per component. */
export function createLogger(level: string = process.env.LOG_LEVEL ?? "info", options: { stderr?: boolean } = {}): Logger {
  // a command whose stdout is its result (`rareforge suite run`) logs on stderr
  return options.stderr ? pino({ level, base: { service: "rareforge" } }, pino.destination(2)) : pino({ level, base: { service: "rareforge" } });
}
