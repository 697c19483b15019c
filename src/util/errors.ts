/**
 * An error in user input (a file, a row, a config key). The CLI prints its
 * message without a stack trace; the message must name what is wrong and where.
 */
export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InputError";
  }
}

/** Format a location for error messages: `file:line` or `file`. */
export function where(file: string, line?: number): string {
  return line === undefined ? file : `${file}:${line}`;
}
