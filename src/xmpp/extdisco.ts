// XEP-0215: External Service Discovery — https://xmpp.org/extensions/xep-0215.html (v1.0)
// The server tells us its STUN/TURN servers and hands out short-lived TURN
// credentials. A long-running daemon must ask again before they expire (a
// common field bug: calls fail a day after start), so the answer is cached
// only until shortly before the earliest expiry.
//
// A server without the service (an error answer) or one that does not answer
// is not asked again for every call: the failure is remembered for a minute,
// and reported as one clear error (never an unhandled rejection).
import { createElement, type Element } from "ltx";

export const NS_EXTDISCO = "urn:xmpp:extdisco:2";

export interface ExternalService {
  type: "stun" | "turn" | "turns";
  host: string;
  port: number;
  transport: "udp" | "tcp";
  username?: string;
  password?: string;
  /** ms since epoch */
  expires?: number;
  restricted?: boolean;
}

const MAX_SERVICES = 32;
/** Ask again this long before the earliest expiry. */
const REFRESH_MARGIN_MS = 5 * 60_000;
/** Without an expiry, ask again after this long anyway. */
const DEFAULT_TTL_MS = 60 * 60_000;
/** After a failed query, ask again only after this long. */
export const FAILURE_RETRY_MS = 60_000;

/** Why the query failed, in words: "the server answered service-unavailable", "no answer within 5000 ms". */
function describeFailure(err: unknown): string {
  const e = err as { name?: string; condition?: string; message?: string } | undefined;
  if (e?.name === "StanzaError" && e.condition) return `the server answered ${e.condition}${e.message && e.message !== e.condition ? ` (${e.message})` : ""}`;
  return e?.message || String(err) || "unknown error";
}

export function buildServicesQuery(to: string): Element {
  const iq = createElement("iq", { type: "get", to });
  iq.c("services", { xmlns: NS_EXTDISCO });
  return iq;
}

/** Parses a <services/> result; unusable entries (unknown type, bad port) are skipped. */
export function parseServices(services: Element | undefined): ExternalService[] {
  if (!services) return [];
  const out: ExternalService[] = [];
  for (const s of services.getChildren("service").slice(0, MAX_SERVICES)) {
    const type = s.attrs.type;
    if (type !== "stun" && type !== "turn" && type !== "turns") continue;
    const host = s.attrs.host;
    const port = Number.parseInt(s.attrs.port ?? (type === "turns" ? "5349" : "3478"), 10);
    if (!host || host.length > 255 || !(port > 0 && port < 65536)) continue;
    const transport = s.attrs.transport === "tcp" ? "tcp" : "udp";
    const svc: ExternalService = { type, host, port, transport };
    if (s.attrs.username) svc.username = s.attrs.username;
    if (s.attrs.password) svc.password = s.attrs.password;
    if (s.attrs.expires) {
      const t = Date.parse(s.attrs.expires);
      if (Number.isFinite(t)) svc.expires = t;
    }
    if (s.attrs.restricted === "1" || s.attrs.restricted === "true") svc.restricted = true;
    out.push(svc);
  }
  return out;
}

/** Caches the server's answer until shortly before the earliest expiry. */
export class ExternalServices {
  #cache: { services: ExternalService[]; validUntil: number } | undefined;
  #inflight: Promise<ExternalService[]> | undefined;
  #failure: { error: Error; until: number } | undefined;

  constructor(
    private readonly query: () => Promise<Element>,
    private readonly now: () => number = Date.now,
  ) {}

  async get(): Promise<ExternalService[]> {
    if (this.#cache && this.now() < this.#cache.validUntil) return this.#cache.services;
    if (this.#failure && this.now() < this.#failure.until) throw this.#failure.error;
    this.#inflight ??= this.#fetch().finally(() => (this.#inflight = undefined));
    return this.#inflight;
  }

  /** Forget the cache (e.g. after a reconnect to another server). */
  invalidate(): void {
    this.#cache = undefined;
    this.#failure = undefined;
  }

  async #fetch(): Promise<ExternalService[]> {
    let result: Element;
    try {
      result = await this.query();
    } catch (err) {
      const error = new Error(`XEP-0215 external services query failed: ${describeFailure(err)}`);
      this.#failure = { error, until: this.now() + FAILURE_RETRY_MS };
      throw error;
    }
    this.#failure = undefined;
    const services = parseServices(result.getChild("services", NS_EXTDISCO));
    const expiries = services.map((s) => s.expires).filter((e): e is number => e !== undefined);
    const earliest = expiries.length ? Math.min(...expiries) : this.now() + DEFAULT_TTL_MS;
    this.#cache = { services, validUntil: Math.max(this.now(), earliest - REFRESH_MARGIN_MS) };
    return services;
  }
}
