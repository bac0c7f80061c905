// Opening the TCP (and, for Direct TLS, TLS) connection to an XMPP service:
// the endpoints from discovery.ts in order (RFC 6120 §3.2.1 steps 4-8: every
// address of a target, then the next target).
//
// Each target's addresses, IPv6 and IPv4, are raced the Happy Eyeballs way
// (RFC 8305): Node's own implementation (net.connect autoSelectFamily,
// Node >= 20) tries the first address and starts the next, of the other
// family, 250 ms later if the first has not connected yet — a dead IPv6 path
// costs a quarter of a second, not a TCP timeout per attempt.
//
// Direct TLS (XEP-0368 §3): SNI and the certificate check name the JID's
// domain, never the SRV target (the target is only where the domain's
// service lives, RFC 6120 §13.7.2.1), and ALPN says "xmpp-client".
import net from "node:net";
import tls from "node:tls";
import { AccountError, errorMessage } from "../util/errors.js";
import { endpointUri, type Endpoint } from "./discovery.js";

/** RFC 8305 §5 recommends 250 ms between connection attempts. */
export const HAPPY_EYEBALLS_DELAY_MS = 250;
/** Giving up on one target (all its addresses) after this long. */
export const CONNECT_TIMEOUT_MS = 10_000;

export interface Dialled {
  /** A connected net.Socket (STARTTLS still to come) or a tls.TLSSocket whose handshake is done (Direct TLS). */
  socket: net.Socket;
  endpoint: Endpoint;
  /** The address that answered. */
  address: string;
}

export interface DialOptions {
  /** The JID's domain: SNI and the name the certificate must carry. */
  domain: string;
  /** Extra trusted CA certificates (PEM), besides the system's. */
  ca?: string[];
  timeoutMs?: number;
  /** Called for each endpoint that failed, before the next is tried. */
  onFailure?: (endpoint: Endpoint, err: Error) => void;
}

function connectTcp(e: Endpoint, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({
      host: e.host,
      port: e.port,
      autoSelectFamily: true,
      autoSelectFamilyAttemptTimeout: HAPPY_EYEBALLS_DELAY_MS,
    });
    const timer = setTimeout(() => fail(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs);
    const fail = (err: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    socket.once("error", fail);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.off("error", fail);
      socket.setNoDelay(true);
      resolve(socket);
    });
  });
}

/** The TLS handshake of Direct TLS over a connected socket; rejects on a certificate that is not the domain's. */
export function startDirectTls(socket: net.Socket, o: { domain: string; ca?: string[]; timeoutMs: number }): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const secure = tls.connect({
      socket,
      servername: o.domain,
      ALPNProtocols: ["xmpp-client"],
      ...(o.ca ? { ca: o.ca } : {}),
      rejectUnauthorized: true,
    });
    const timer = setTimeout(() => fail(new Error(`no TLS handshake within ${o.timeoutMs / 1000} s`)), o.timeoutMs);
    const fail = (err: Error) => {
      clearTimeout(timer);
      secure.destroy();
      reject(err);
    };
    secure.once("error", fail);
    secure.once("secureConnect", () => {
      clearTimeout(timer);
      secure.off("error", fail);
      resolve(secure);
    });
  });
}

/** What a failed attempt says, in a person's words. */
function describe(err: Error): string {
  const code = (err as { code?: string }).code;
  if (code === "ECONNREFUSED") return "connection refused";
  if (code === "ENOTFOUND") return "no such host";
  if (code === "ETIMEDOUT") return "timed out";
  if (code === "EHOSTUNREACH" || code === "ENETUNREACH") return "unreachable";
  // Node's autoSelectFamily reports every address it tried.
  if (err instanceof AggregateError) return [...new Set(err.errors.map((e: Error) => describe(e)))].join(", ");
  return err.message;
}

function isCertificateError(err: Error): boolean {
  const code = (err as { code?: string }).code ?? "";
  return /CERT|SELF_SIGNED|ERR_TLS_CERT_ALTNAME_INVALID|UNABLE_TO_GET_ISSUER|UNABLE_TO_VERIFY/.test(code) || /certificate/i.test(err.message);
}

/**
 * Connects to the first endpoint that answers. A refused or timed-out
 * target, or a Direct TLS handshake that fails, moves on to the next.
 * Rejects with AccountError "unreachable" (nothing answered) or "tls-failed"
 * (something answered but could not prove it is the domain's server).
 */
export async function dial(endpoints: Endpoint[], o: DialOptions): Promise<Dialled> {
  const timeoutMs = o.timeoutMs ?? CONNECT_TIMEOUT_MS;
  const failures: string[] = [];
  let certificateFailure = false;
  for (const endpoint of endpoints) {
    let tcp: net.Socket | undefined;
    try {
      tcp = await connectTcp(endpoint, timeoutMs);
      const address = `${tcp.remoteAddress}`;
      const socket = endpoint.directTls ? await startDirectTls(tcp, { domain: o.domain, ...(o.ca ? { ca: o.ca } : {}), timeoutMs }) : tcp;
      return { socket, endpoint, address };
    } catch (err) {
      tcp?.destroy();
      const e = err instanceof Error ? err : new Error(errorMessage(err));
      if (endpoint.directTls && tcp && isCertificateError(e)) certificateFailure = true;
      failures.push(`${endpointUri(endpoint)}: ${tcp && endpoint.directTls ? `TLS: ${e.message}` : describe(e)}`);
      o.onFailure?.(endpoint, e);
    }
  }
  const list = failures.join("; ");
  if (certificateFailure) {
    throw new AccountError("tls-failed", `TLS with ${o.domain} failed: ${list}${o.ca ? "" : " (set tls.caFile to trust a private CA)"}`);
  }
  throw new AccountError("unreachable", `cannot reach the XMPP service of ${o.domain}: ${list}`);
}
