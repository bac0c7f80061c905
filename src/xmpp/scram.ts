// SASL SCRAM-SHA-1 / SCRAM-SHA-256 client (RFC 5802, RFC 7677), with and
// without channel binding (-PLUS, RFC 5802 §6; channel-binding.ts), for the
// `saslmechanisms` factory that @xmpp/sasl uses. Ours rather than the
// sasl-scram-sha-1 package: that one runs PBKDF2 as 10,000 sequential
// WebCrypto calls (about 1.4 s per login here); node:crypto's pbkdf2 runs on
// the thread pool in milliseconds, and SHA-256 comes for free.
import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from "node:crypto";
import { promisify } from "node:util";
import type { Gs2Binding } from "./channel-binding.js";

const pbkdf2Async = promisify(pbkdf2);

type Hash = "sha1" | "sha256";

/** RFC 5802 §5.1: "=" and "," in names are escaped. */
function saslname(s: string): string {
  return s.replace(/=/g, "=3D").replace(/,/g, "=2C");
}

function parseAttributes(s: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of s.split(",")) {
    const eq = part.indexOf("=");
    if (eq > 0) out.set(part.slice(0, eq), part.slice(eq + 1));
  }
  return out;
}

export class ScramError extends Error {}

/** What the mechanism is given besides the name and password: the gs2 channel-binding flag (and data for -PLUS). */
export interface ScramCredentials {
  username?: string;
  password?: string;
  authzid?: string;
  binding?: Gs2Binding;
}

function scramMechanism(name: string, hash: Hash, keyLength: number, plus: boolean) {
  return class ScramMechanism {
    readonly name = name;
    readonly clientFirst = true;
    #stage: "initial" | "challenge" | "final" = "initial";
    readonly #cnonce: string;
    #clientFirstBare = "";
    /** RFC 5802 §7 gs2-header: the binding flag and the authzid. */
    #gs2Header = "";
    /** The channel-binding data (-PLUS), empty otherwise. */
    #cbData: Buffer = Buffer.alloc(0);
    #serverFirst = "";
    #expectedServerSignature: Buffer | undefined;
    #serverVerified = false;

    /** `cnonce` only for tests with the RFCs' example exchanges. */
    constructor(opts: { cnonce?: string } = {}) {
      this.#cnonce = opts.cnonce ?? randomBytes(18).toString("base64");
    }

    /** Called by the factory's consumer with the credentials; returns the next message. */
    async response(cred: ScramCredentials): Promise<string> {
      if (this.#stage === "initial") {
        this.#stage = "challenge";
        const binding = cred.binding ?? { flag: "n" };
        // -PLUS only with a binding, and a binding only with -PLUS (RFC 5802 §6).
        if (plus !== (binding.flag === "p")) throw new ScramError(`${name}: gs2 flag ${binding.flag} does not fit the mechanism`);
        this.#cbData = binding.flag === "p" ? binding.data : Buffer.alloc(0);
        this.#gs2Header = `${binding.flag === "p" ? `p=${binding.type}` : binding.flag},${cred.authzid ? `a=${saslname(cred.authzid)}` : ""},`;
        this.#clientFirstBare = `n=${saslname(cred.username ?? "")},r=${this.#cnonce}`;
        return `${this.#gs2Header}${this.#clientFirstBare}`;
      }
      if (this.#stage === "challenge") {
        this.#stage = "final";
        const attrs = parseAttributes(this.#serverFirst);
        const nonce = attrs.get("r") ?? "";
        const salt = Buffer.from(attrs.get("s") ?? "", "base64");
        const iterations = Number.parseInt(attrs.get("i") ?? "", 10);
        if (attrs.has("e")) throw new ScramError(`SCRAM: server error ${attrs.get("e")}`);
        // The server must extend our nonce (RFC 5802 §5.1 r=), else it is replaying.
        if (!nonce.startsWith(this.#cnonce) || nonce.length <= this.#cnonce.length) throw new ScramError("SCRAM: server nonce does not extend ours");
        if (!(iterations >= 1 && iterations <= 10_000_000) || salt.length === 0) throw new ScramError("SCRAM: bad salt or iteration count");
        const salted = await pbkdf2Async((cred.password ?? "").normalize("NFKC"), salt, iterations, keyLength, hash);
        const clientKey = createHmac(hash, salted).update("Client Key").digest();
        const storedKey = createHash(hash).update(clientKey).digest();
        // c= : the gs2 header and, for -PLUS, the channel-binding data (RFC 5802 §7 cbind-input).
        const cbind = Buffer.concat([Buffer.from(this.#gs2Header), this.#cbData]).toString("base64");
        const finalWithoutProof = `c=${cbind},r=${nonce}`;
        const authMessage = `${this.#clientFirstBare},${this.#serverFirst},${finalWithoutProof}`;
        const signature = createHmac(hash, storedKey).update(authMessage).digest();
        const proof = Buffer.alloc(clientKey.length);
        for (let i = 0; i < proof.length; i++) proof[i] = clientKey[i]! ^ signature[i]!;
        const serverKey = createHmac(hash, salted).update("Server Key").digest();
        this.#expectedServerSignature = createHmac(hash, serverKey).update(authMessage).digest();
        return `${finalWithoutProof},p=${proof.toString("base64")}`;
      }
      return "";
    }

    challenge(chal: string): this {
      if (this.#stage === "challenge") this.#serverFirst = chal;
      else if (this.#stage === "final") this.verifyServerFinal(chal);
      return this;
    }

    /** True once the server's signature (v=) was checked and right. */
    get serverVerified(): boolean {
      return this.#serverVerified;
    }

    /**
     * RFC 6120 §6.4.6: the server's final message comes as the additional
     * data of <success/>, or before it as a last challenge. Either way it
     * must have come and been right, else the server never proved it knows
     * the password.
     */
    serverSucceeded(additionalData: string): void {
      if (additionalData !== "" && !this.#serverVerified) this.verifyServerFinal(additionalData);
      if (!this.#serverVerified) throw new ScramError(`${name}: the server did not prove it knows the password (no server signature)`);
    }

    /** RFC 5802 §3, §5.1: v= proves the server knows the password too; e= is its refusal. */
    verifyServerFinal(serverFinal: string): void {
      const attrs = parseAttributes(serverFinal);
      if (attrs.has("e")) throw new ScramError(`${name}: server error ${attrs.get("e")}`);
      const v = attrs.get("v");
      if (!v || !this.#expectedServerSignature) throw new ScramError(`${name}: the server's final message carries no signature (v=)`);
      const got = Buffer.from(v, "base64");
      if (got.length !== this.#expectedServerSignature.length || !timingSafeEqual(got, this.#expectedServerSignature)) {
        throw new ScramError(`${name}: the server's signature is wrong (it does not know the password: not the real server?)`);
      }
      this.#serverVerified = true;
    }
  };
}

export const ScramSha1 = scramMechanism("SCRAM-SHA-1", "sha1", 20, false);
export const ScramSha256 = scramMechanism("SCRAM-SHA-256", "sha256", 32, false);
export const ScramSha1Plus = scramMechanism("SCRAM-SHA-1-PLUS", "sha1", 20, true);
export const ScramSha256Plus = scramMechanism("SCRAM-SHA-256-PLUS", "sha256", 32, true);
// saslmechanisms reads the name from the prototype.
for (const [m, n] of [
  [ScramSha1, "SCRAM-SHA-1"],
  [ScramSha256, "SCRAM-SHA-256"],
  [ScramSha1Plus, "SCRAM-SHA-1-PLUS"],
  [ScramSha256Plus, "SCRAM-SHA-256-PLUS"],
] as const) {
  (m.prototype as unknown as { name: string }).name = n;
}
