// The STUN and TURN servers a new call uses: the configured ones (ice.stun,
// ice.turn), then those the XMPP server offers (XEP-0215, when
// ice.serverServices; xmpp/extdisco.ts caches them and refreshes the
// credentials before they expire). A server that offers none is noted once,
// not at every call.
import type { LoadedConfig } from "../config/load.js";
import type { IceServers } from "../ice/ice-agent.js";
import { mergeIceServers } from "../ice/ice-servers.js";
import { errorMessage } from "../util/errors.js";
import type { Logger } from "../util/logger.js";
import type { ExternalServices } from "../xmpp/extdisco.js";

export interface CallIceServersDeps {
  /** ice.* in force (reload changes it). */
  config(): Pick<LoadedConfig["ice"], "serverServices" | "stun" | "turn">;
  /** The account is online: only then is the server asked. */
  online(): boolean;
  services: Pick<ExternalServices, "get">;
  logger: Logger;
}

export class CallIceServers {
  readonly #d: CallIceServersDeps;
  /** The XEP-0215 failure last logged: the same one is not logged again (it comes back for every call). */
  #noted: string | undefined;

  constructor(deps: CallIceServersDeps) {
    this.#d = deps;
  }

  /** STUN/TURN servers for a call: configured ones, then the XMPP server's (XEP-0215, credentials refreshed before expiry). */
  async get(): Promise<IceServers> {
    const offered =
      this.#d.config().serverServices && this.#d.online()
        ? await this.#d.services.get().then(
            (services) => {
              this.#noted = undefined;
              return services;
            },
            (err: unknown) => {
              const why = errorMessage(err);
              if (why === this.#noted) this.#d.logger.debug({ err: why }, "the server offers no external services (XEP-0215)");
              else this.#d.logger.info({ err: why }, "the server offers no external services (XEP-0215)");
              this.#noted = why;
              return [];
            },
          )
        : [];
    return mergeIceServers(this.#d.config(), offered);
  }
}
