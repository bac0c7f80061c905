// The daemon's exit codes, one table (sysexits.h numbers). main.ts returns
// them, the README lists them (test/unit/exit-codes.test.ts checks), and the
// systemd unit's RestartPreventExitStatus= names those a restart cannot fix:
// a wrong password stays wrong, a server that is not up yet comes up.
import { AccountError } from "./errors.js";

export interface ExitCode {
  code: number;
  /** sysexits.h name, or "-". */
  name: string;
  meaning: string;
  /** Whether restarting the daemon (systemd Restart=on-failure) can help. */
  restartHelps: boolean;
}

export const EXIT = {
  ok: { code: 0, name: "-", meaning: "stopped cleanly (SIGTERM, SIGINT, the shutdown command); --check-config: the file is valid", restartHelps: false },
  failure: { code: 1, name: "-", meaning: "an unexpected error (a bug: the log says where)", restartHelps: true },
  usage: { code: 64, name: "EX_USAGE", meaning: "bad command line", restartHelps: false },
  unavailable: {
    code: 69,
    name: "EX_UNAVAILABLE",
    meaning: "the XMPP server cannot be reached (DNS, connection refused or timed out, or the domain's DNS says it has no XMPP service)",
    restartHelps: true,
  },
  tempFail: { code: 75, name: "EX_TEMPFAIL", meaning: "another jingled already listens on the control socket", restartHelps: true },
  protocol: {
    code: 76,
    name: "EX_PROTOCOL",
    meaning: "the server could not be trusted: its TLS certificate is not for the JID's domain or not trusted (tls.caFile), it offered no TLS or no SASL, or it failed SCRAM's proof or channel binding",
    restartHelps: true,
  },
  noPermission: {
    code: 77,
    name: "EX_NOPERM",
    meaning: "the server refused the login: wrong password, or the account is disabled (SASL not-authorized, account-disabled, credentials-expired)",
    restartHelps: false,
  },
  config: { code: 78, name: "EX_CONFIG", meaning: "the configuration is invalid (the message names the key)", restartHelps: false },
} as const satisfies Record<string, ExitCode>;

const BY_ACCOUNT_ERROR: Record<string, ExitCode> = {
  "not-authorized": EXIT.noPermission,
  "auth-failed": EXIT.protocol,
  "tls-failed": EXIT.protocol,
  "tls-required": EXIT.protocol,
  "auth-required": EXIT.protocol,
  "server-not-verified": EXIT.protocol,
  "channel-binding": EXIT.protocol,
  "bad-service": EXIT.config,
  unreachable: EXIT.unavailable,
  "no-service": EXIT.unavailable,
  "connect-failed": EXIT.unavailable,
  temporary: EXIT.unavailable,
};

/** The exit code for an error that stopped the daemon from starting. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof AccountError) return (BY_ACCOUNT_ERROR[err.code] ?? EXIT.unavailable).code;
  if (/already listening/.test(err instanceof Error ? err.message : String(err))) return EXIT.tempFail.code;
  return EXIT.failure.code;
}
