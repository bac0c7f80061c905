// The host addresses the calls' ICE agents gather from (ice.addresses or
// ice.interfaces, addresses.ts chooses), kept current: interface addresses
// can change under a running daemon (DHCP, roaming, a re-addressed LAN), so
// unless ice.addresses pins them they are looked at every second, and a
// change is reported (the app restarts ICE on every call then:
// docs/networking.md).
import { networkInterfaces } from "node:os";
import { selectHostAddresses, type AddressSelection } from "./addresses.js";

const POLL_MS = 1000;

export class HostAddresses {
  #selection: AddressSelection;
  #current: string[];
  #timer: NodeJS.Timeout | undefined;

  constructor(selection: AddressSelection) {
    this.#selection = selection;
    this.#current = selectHostAddresses(selection);
  }

  /** The addresses to gather from now. */
  get current(): string[] {
    return this.#current;
  }

  /** ice.addresses or ice.interfaces changed (a reload): select again. */
  configure(selection: AddressSelection): void {
    this.#selection = selection;
    this.#current = selectHostAddresses(selection);
  }

  /** Unless addresses are pinned, looks at the interfaces every second and reports a new set (from, to). */
  watch(onChange: (now: string[], before: string[]) => void): void {
    if (this.#selection.addresses?.length) return;
    const key = (a: string[]) => [...a].sort().join(",");
    this.#timer = setInterval(() => {
      const now = selectHostAddresses(this.#selection);
      if (key(now) === key(this.#current)) return;
      const before = this.#current;
      this.#current = now;
      onChange(now, before);
    }, POLL_MS);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** Whether any interface of this host has `ip` (the XMPP connection's local address, say). */
  static present(ip: string): boolean {
    return selectHostAddresses({ interfaces: Object.keys(networkInterfaces()) }).includes(ip);
  }
}
