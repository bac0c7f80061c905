// SASL authentication (RFC 6120 §6) through @xmpp/sasl 0.14, with its flaw
// removed: on <success/> it resolves without handing the element's
// additional data to the mechanism (index.js: `if (element.name ===
// "success") return done();`). SCRAM's server-final message (v=, RFC 5802
// §3, which proves the server knows the password) travels exactly there
// with Prosody and most servers, so it was never checked: a server that does
// not know the password "authenticated" us. Here the mechanism instance and
// the <success/> data are kept, and a mechanism that can verify the server
// must have done so before authentication counts as complete.
import _sasl from "@xmpp/sasl";
import type { Client } from "@xmpp/client-core";
import type SASLFactory from "saslmechanisms";
import type { Element } from "ltx";
import { AccountError } from "../util/errors.js";
import { ScramError } from "./scram.js";
import type { Gs2Binding } from "./channel-binding.js";
import { NS_SASL } from "./stream-guard.js";

/** A mechanism that proves the server (SCRAM): it must see the server's final data. */
export interface MutualMechanism {
  /** RFC 6120 §6.4.6: the additional data of <success/> ("" when none); throws unless the server is now proven. */
  serverSucceeded(additionalData: string): void;
}

function isMutual(mech: unknown): mech is MutualMechanism {
  return typeof (mech as Partial<MutualMechanism> | null)?.serverSucceeded === "function";
}

export type Authenticate = (credentials: { username: string; password: string; binding?: Gs2Binding }, mechanism: string) => Promise<void>;

/**
 * Registers SASL on `streamFeatures`. `onAuthenticate` chooses the mechanism
 * and calls `authenticate`, which resolves once the server accepted us and,
 * for SCRAM, proved that it knows the password. Whatever `onAuthenticate`
 * does after that runs before the stream is restarted.
 */
export function sasl(
  deps: { streamFeatures: unknown; saslFactory: SASLFactory },
  onAuthenticate: (authenticate: Authenticate, mechanisms: string[], entity: Client) => Promise<void>,
): void {
  let created: unknown;
  // @xmpp/sasl reads _mechs (what we support) and calls create() once per authentication.
  const factory = {
    get _mechs(): unknown {
      return (deps.saslFactory as unknown as { _mechs: unknown })._mechs;
    },
    create(names: string[]): unknown {
      created = (deps.saslFactory as unknown as { create(n: string[]): unknown }).create(names);
      return created;
    },
  };
  _sasl({ streamFeatures: deps.streamFeatures, saslFactory: factory }, async (done, mechanisms, _fast, entity) => {
    const authenticate: Authenticate = async (credentials, mechanism) => {
      created = undefined;
      let successData = "";
      const onNonza = (el: Element): void => {
        if (el.is("success", NS_SASL)) successData = el.text();
      };
      // Registered before @xmpp/sasl's own listener, so it has seen <success/> when done() resolves.
      entity.on("nonza", onNonza);
      try {
        await done(credentials, mechanism);
        const mech = created;
        if (!isMutual(mech)) return;
        let data: string;
        try {
          data = successData === "=" ? "" : atob(successData);
        } catch {
          throw new ScramError("SASL: the additional data of the server's <success/> is not base64");
        }
        mech.serverSucceeded(data);
      } catch (err) {
        // A server that fails the mechanism's checks is refused like one that skips TLS.
        if (err instanceof ScramError) throw new AccountError("server-not-verified", `refusing the server: ${err.message}`);
        throw err;
      } finally {
        entity.off("nonza", onNonza);
      }
    };
    await onAuthenticate(authenticate, mechanisms, entity);
  });
}
