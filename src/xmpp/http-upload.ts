// XEP-0363: HTTP File Upload — https://xmpp.org/extensions/xep-0363.html (v1.1.0)
// Puts a file where our own server says, and returns the URL to share.
//
//   1. §4 discovery: disco#items of our server's domain, disco#info of the
//      domain and of each item; the service has the feature
//      urn:xmpp:http:upload:0 and may state max-file-size (§4, a data form).
//   2. §5 slot request: <request filename size content-type/> to that
//      service; the answer names a PUT URL (with headers) and a GET URL.
//   3. §6 upload: one HTTP PUT of the file to the PUT URL, nowhere else.
//
// Rules this file enforces (docs/security.md):
//   - the file goes only to the slot that the service of our own server's
//     disco#items gave (the slot's answer must come from that service);
//   - PUT and GET URLs are https (http only with allowHttp; nothing else ever),
//     §11: "the upload service MUST use HTTPS";
//   - a file larger than the service's max-file-size is not sent (§4);
//   - of the slot's headers only Authorization, Cookie and Expires are sent,
//     with newlines stripped (§5: "any newline characters MUST be removed");
//   - no redirect is followed (node:https does not), and only 200/201 counts (§6);
//   - the TLS trust is the XMPP connection's (the system's CAs plus tls.caFile).
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { xml } from "@xmpp/xml";
import type { Element } from "ltx";
import { JingledError, errorMessage } from "../util/errors.js";

export const NS_HTTP_UPLOAD = "urn:xmpp:http:upload:0";
const NS_DISCO_INFO = "http://jabber.org/protocol/disco#info";
const NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items";
const NS_DATA = "jabber:x:data";

/** §5: the only slot headers a client sends. */
const ALLOWED_HEADERS = new Set(["authorization", "cookie", "expires"]);
/** Items of our server asked for their features at most. */
const MAX_ITEMS = 20;
const QUERY_TIMEOUT_MS = 5000;

/** Why an upload did not happen, as a code and words for the log and the chat message. */
export class UploadError extends JingledError {}

export interface UploadService {
  jid: string;
  /** Bytes; undefined: the service states no limit. */
  maxFileSize?: number;
}

export interface Slot {
  put: { url: URL; headers: Record<string, string> };
  get: URL;
}

/** Sends an IQ and resolves with its result (rejects on an error or no answer); the connection's iq(). */
export type IqRequest = (request: Element, timeoutMs: number) => Promise<Element>;

function discoInfo(iq: IqRequest, jid: string): Promise<Element | undefined> {
  return iq(xml("iq", { type: "get", to: jid }, xml("query", { xmlns: NS_DISCO_INFO })), QUERY_TIMEOUT_MS).then(
    (r) => r.getChild("query", NS_DISCO_INFO),
    () => undefined,
  );
}

/** §4: max-file-size from the service's data form (FORM_TYPE urn:xmpp:http:upload:0), if it states one. */
export function maxFileSizeOf(info: Element): number | undefined {
  for (const form of info.getChildren("x", NS_DATA)) {
    const fields = form.getChildren("field");
    const type = fields.find((f) => f.attrs.var === "FORM_TYPE")?.getChildText("value");
    if (type !== NS_HTTP_UPLOAD) continue;
    const raw = fields.find((f) => f.attrs.var === "max-file-size")?.getChildText("value")?.trim();
    if (raw && /^\d{1,15}$/.test(raw)) return Number(raw);
  }
  return undefined;
}

function offersUpload(info: Element | undefined): info is Element {
  return info?.getChildren("feature").some((f) => f.attrs.var === NS_HTTP_UPLOAD) === true;
}

/** §4: the upload service of our server `domain` (the domain itself, or one of its disco#items), or undefined. */
export async function findUploadService(iq: IqRequest, domain: string): Promise<UploadService | undefined> {
  const own = await discoInfo(iq, domain);
  if (offersUpload(own)) return withLimit(domain, own);
  const items = await iq(xml("iq", { type: "get", to: domain }, xml("query", { xmlns: NS_DISCO_ITEMS })), QUERY_TIMEOUT_MS).then(
    (r) => r.getChild("query", NS_DISCO_ITEMS)?.getChildren("item") ?? [],
    () => [],
  );
  const jids = [...new Set(items.map((i) => i.attrs.jid).filter((j): j is string => typeof j === "string" && j !== "" && !j.includes("/")))].slice(0, MAX_ITEMS);
  const infos = await Promise.all(jids.map((j) => discoInfo(iq, j)));
  const i = infos.findIndex(offersUpload);
  return i < 0 ? undefined : withLimit(jids[i]!, infos[i]!);
}

function withLimit(jid: string, info: Element): UploadService {
  const max = maxFileSizeOf(info);
  return max === undefined ? { jid } : { jid, maxFileSize: max };
}

function checkUrl(raw: string | undefined, what: string, allowHttp: boolean): URL {
  let url: URL;
  try {
    url = new URL(raw ?? "");
  } catch {
    throw new UploadError("bad-slot", `the upload slot's ${what} URL is not a URL: ${JSON.stringify((raw ?? "").slice(0, 200))}`);
  }
  if (url.protocol === "https:" || (allowHttp && url.protocol === "http:")) return url;
  throw new UploadError("insecure-slot", `the upload slot's ${what} URL is ${url.protocol.replace(/:$/, "")}, not https (${url.origin}); refused`);
}

/** §5: the slot in a service's answer, its URLs checked, its headers reduced to those a client may send. */
export function parseSlot(reply: Element, opts: { allowHttp: boolean }): Slot {
  const slot = reply.getChild("slot", NS_HTTP_UPLOAD);
  const put = slot?.getChild("put");
  const get = slot?.getChild("get");
  if (!put || !get) throw new UploadError("bad-slot", "the upload service answered without a slot (put and get)");
  const headers: Record<string, string> = {};
  for (const h of put.getChildren("header")) {
    const name = (h.attrs.name ?? "").trim();
    if (!ALLOWED_HEADERS.has(name.toLowerCase())) continue;
    headers[name] = h.getText().replace(/[\r\n]/g, "");
  }
  return { put: { url: checkUrl(put.attrs.url, "PUT", opts.allowHttp), headers }, get: checkUrl(get.attrs.url, "GET", opts.allowHttp) };
}

export interface UploadOptions {
  iq: IqRequest;
  /** Our server's domain: the only place an upload service is looked for. */
  domain: string;
  /** Accept http:// slots (a test server, a trusted network); https otherwise. */
  allowHttp: boolean;
  /** Certificates to trust for the PUT (the XMPP connection's); undefined: the system's. */
  ca?: string[];
  timeoutMs?: number;
}

/**
 * Uploads `file` as `filename` and returns the URL to share. Throws
 * UploadError: no-service (our server offers none), too-large, a bad or
 * insecure slot, or the PUT failing.
 */
export async function uploadFile(o: UploadOptions, file: string, filename: string, contentType: string): Promise<URL> {
  const service = await findUploadService(o.iq, o.domain);
  if (!service) throw new UploadError("no-service", `${o.domain} offers no HTTP upload service (XEP-0363)`);
  const { size } = await stat(file);
  if (service.maxFileSize !== undefined && size > service.maxFileSize) {
    throw new UploadError("too-large", `the file is ${size} bytes, more than the ${service.maxFileSize} bytes ${service.jid} takes`);
  }
  let reply: Element;
  try {
    reply = await o.iq(
      xml("iq", { type: "get", to: service.jid }, xml("request", { xmlns: NS_HTTP_UPLOAD, filename, size: String(size), "content-type": contentType })),
      QUERY_TIMEOUT_MS,
    );
  } catch (err) {
    throw new UploadError("slot-refused", `${service.jid} gave no upload slot: ${errorMessage(err)}`);
  }
  // The answer comes from the service asked (the IQ caller matches it by id and sender).
  if (reply.attrs.from !== undefined && reply.attrs.from.toLowerCase() !== service.jid.toLowerCase()) {
    throw new UploadError("bad-slot", `the upload slot came from ${reply.attrs.from}, not ${service.jid}`);
  }
  const slot = parseSlot(reply, { allowHttp: o.allowHttp });
  await putFile(slot, file, size, contentType, o);
  return slot.get;
}

/** §6: one PUT of the file to the slot; 200 or 201 is success, anything else (a redirect too) a failure. */
export function putFile(slot: Slot, file: string, size: number, contentType: string, o: { ca?: string[]; timeoutMs?: number }): Promise<void> {
  const url = slot.put.url;
  const send = url.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise<void>((resolve, reject) => {
    const req = send(
      url,
      {
        method: "PUT",
        headers: { ...slot.put.headers, "Content-Type": contentType, "Content-Length": String(size) },
        timeout: o.timeoutMs ?? 60_000,
        ...(url.protocol === "https:" && o.ca ? { ca: o.ca } : {}),
      },
      (res) => {
        res.resume();
        res.on("end", () => {
          if (res.statusCode === 200 || res.statusCode === 201) resolve();
          else reject(new UploadError("put-failed", `the upload to ${url.origin} answered HTTP ${res.statusCode ?? "?"}`));
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error("no answer in time")));
    req.on("error", (err) => reject(new UploadError("put-failed", `the upload to ${url.origin} failed: ${err.message}`)));
    const body = createReadStream(file);
    body.on("error", (err) => req.destroy(err));
    body.pipe(req);
  });
}
