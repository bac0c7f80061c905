// The STUN and TURN servers a call uses: the configured ones first (URIs of
// RFC 7064 and RFC 7065), then the XMPP server's (XEP-0215, with
// short-lived TURN credentials). Every STUN server, configured ones first
// (the agent asks the first of each address family); every TURN server (the
// agent allocates on each, up to MAX_TURN_SERVERS).
import type { IceServers } from "./ice-agent.js";
import type { TurnServer } from "./turn-allocate.js";

/** turn:HOST[:PORT][?transport=udp|tcp] or turns:HOST[:PORT] (RFC 7065 §3); IPv6 hosts in brackets. */
export function parseTurnUri(uri: string, username: string, password: string): TurnServer {
  const m = /^(turns?):\[?([^\]?]+?)\]?(?::(\d+))?(?:\?transport=(udp|tcp))?$/.exec(uri);
  if (!m) throw new Error(`bad TURN URI ${uri}`);
  const secure = m[1] === "turns";
  return { host: m[2]!, port: m[3] ? Number(m[3]) : secure ? 5349 : 3478, username, password, transport: secure ? "tls" : ((m[4] as "udp" | "tcp" | undefined) ?? "udp") };
}

/** stun:HOST[:PORT] (RFC 7064 §3); the default port is 3478. */
export function parseStunUri(uri: string): [string, number] {
  const m = /^stun:\[?([^\]]+?)\]?(?::(\d+))?(\?.*)?$/.exec(uri);
  if (!m) throw new Error(`bad STUN URI ${uri}`);
  return [m[1]!, m[2] ? Number(m[2]) : 3478];
}

/** A server the XMPP server offers (xmpp/extdisco.ts has them). */
export interface OfferedService {
  type: string;
  host: string;
  port: number;
  transport: "udp" | "tcp";
  username?: string;
  password?: string;
}

/** STUN servers passed on to the agent at most. */
export const MAX_STUN_SERVERS = 8;

/** The configured servers (config ice.stun, ice.turn), then those offered (TURN only with credentials). */
export function mergeIceServers(configured: { stun: string[]; turn: { uri: string; username: string; password: string }[] }, offered: OfferedService[]): IceServers {
  const out: IceServers = {};
  const stun: [string, number][] = configured.stun.map(parseStunUri);
  const turn: TurnServer[] = configured.turn.map((t) => parseTurnUri(t.uri, t.username, t.password));
  for (const s of offered) if (s.type === "stun") stun.push([s.host, s.port]);
  for (const t of offered) {
    if ((t.type !== "turn" && t.type !== "turns") || !t.username || !t.password) continue;
    turn.push({ host: t.host, port: t.port, username: t.username, password: t.password, transport: t.type === "turns" ? "tls" : t.transport });
  }
  if (stun.length) out.stun = stun.slice(0, MAX_STUN_SERVERS);
  if (turn.length) out.turn = turn;
  return out;
}
