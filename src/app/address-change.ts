// Our host addresses changed (ice/host-addresses.ts watches them;
// docs/networking.md): the XMPP connection is re-made when its local address
// went away, then every call restarts ICE with the new addresses.
import { HostAddresses } from "../ice/host-addresses.js";
import { errorMessage } from "../util/errors.js";
import type { Logger } from "../util/logger.js";
import type { AccountState } from "../util/vocabulary.js";
import type { XmppConnection } from "../xmpp/connection.js";
import type { Call } from "./call/call.js";

export interface AddressChangeDeps {
  account: Pick<XmppConnection, "localAddress" | "reconnectNow" | "on" | "off">;
  /** The calls that exist now. */
  calls(): Pick<Call, "restartIce">[];
  logger: Logger;
}

/** `now`: the host addresses from now on (none: nothing to restart with; the next change will). */
export async function onAddressesChanged(now: string[], deps: AddressChangeDeps): Promise<void> {
  const local = deps.account.localAddress?.replace(/^::ffff:/, "");
  if (local && !HostAddresses.present(local)) {
    deps.account.reconnectNow(`local address ${local} is gone`);
    // The restart's transport-info needs the server: wait (bounded) for the account to be back.
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        deps.account.off("state", onState);
        resolve();
      };
      const onState = (state: AccountState) => state === "online" && done();
      const timer = setTimeout(done, 10_000);
      deps.account.on("state", onState);
    });
  }
  if (now.length === 0) return; // nothing to restart with; the next change will
  for (const c of deps.calls()) void c.restartIce("local addresses changed").catch((err: unknown) => deps.logger.warn({ err: errorMessage(err) }, "ICE restart"));
}
