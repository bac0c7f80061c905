// Errors by domain. Each carries a stable `code` that the control socket
// reports to clients, and a message a person can act on.

export class JingledError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Configuration is invalid; `issues` name each key, what was found and what is expected. */
export class ConfigError extends JingledError {
  constructor(
    message: string,
    readonly issues: string[] = [],
  ) {
    super("config-invalid", message);
  }
}

/** A control request cannot be carried out (bad argument, unknown call, wrong state). */
export class CommandError extends JingledError {}

/** The XMPP account is not usable (offline, auth failed, TLS refused). */
export class AccountError extends JingledError {}

/** A call failed; `reason` is the XEP-0166 reason condition sent or received. */
export class CallError extends JingledError {
  constructor(
    code: string,
    message: string,
    readonly reason?: string,
  ) {
    super(code, message);
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
