// Where the configuration takes an IP address literal (ice.addresses,
// metrics.address), say what else was written when it is not one: a host
// name (never resolved here: validation does no I/O), an address with a
// prefix length, a bracketed IPv6 address, an address with a port.
import { isIP } from "node:net";

const HOST_NAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;

/** Why `s` is not an IP address literal, or undefined when it is one; `expected` says what belongs there. */
export function ipLiteralProblem(s: string, expected = "an IP address like 192.0.2.10"): string | undefined {
  if (isIP(s) !== 0) return undefined;
  const slash = s.indexOf("/");
  if (slash > 0 && isIP(s.slice(0, slash)) !== 0) return `expected an IP address without a prefix length: ${s.slice(0, slash)}, not ${s}`;
  if (s.startsWith("[") && s.endsWith("]") && isIP(s.slice(1, -1)) === 6) return `expected the IPv6 address without brackets: ${s.slice(1, -1)}`;
  const port = /^(.+):(\d{1,5})$/.exec(s);
  if (port && isIP(port[1]!) === 4) return `expected an IP address without a port: ${port[1]}`;
  if (!/^\d+(\.\d+)*$/.test(s) && HOST_NAME.test(s)) return `${s} is a host name, not an IP address (names are not looked up here); expected ${expected}`;
  return `expected ${expected}`;
}
