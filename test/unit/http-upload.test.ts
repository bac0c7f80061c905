// XEP-0363 upload (src/xmpp/http-upload.ts) against a scripted server (the
// IQ answers) and a real local HTTP server (the PUT): where a file may go,
// which headers it carries, and what a slot may not make us do. The upload
// through a real Prosody is in test/integration/voicemail.test.ts.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { xml } from "@xmpp/xml";
import type { Element } from "ltx";
import { NS_HTTP_UPLOAD, UploadError, findUploadService, maxFileSizeOf, parseSlot, uploadFile, type IqRequest } from "../../src/xmpp/http-upload.js";

const DISCO_INFO = "http://jabber.org/protocol/disco#info";
const DISCO_ITEMS = "http://jabber.org/protocol/disco#items";

interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A plain HTTP server on 127.0.0.1 that records what reaches it and answers `status` (with `location`, if given). */
async function httpServer(status = 201, location?: string): Promise<{ server: Server; port: number; got: Received[] }> {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      got.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
      res.writeHead(status, location ? { location } : {});
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, port: (server.address() as { port: number }).port, got };
}

/** Our server example.org with the upload service upload.example.org; `slot` builds its answer to a request. */
function scriptedServer(o: { maxFileSize?: number; slot: (req: Element) => Element; from?: string }): { iq: IqRequest; requests: Element[] } {
  const requests: Element[] = [];
  const iq: IqRequest = async (stanza) => {
    requests.push(stanza);
    const to = stanza.attrs.to;
    const q = stanza.getChild("query");
    if (q?.attrs.xmlns === DISCO_ITEMS && to === "example.org") {
      return xml("iq", { type: "result", from: to }, xml("query", { xmlns: DISCO_ITEMS }, xml("item", { jid: "conference.example.org" }), xml("item", { jid: "upload.example.org" })));
    }
    if (q?.attrs.xmlns === DISCO_INFO) {
      if (to !== "upload.example.org") return xml("iq", { type: "result", from: to }, xml("query", { xmlns: DISCO_INFO }, xml("feature", { var: "http://jabber.org/protocol/muc" })));
      const form =
        o.maxFileSize === undefined
          ? []
          : [
              xml(
                "x",
                { xmlns: "jabber:x:data", type: "result" },
                xml("field", { var: "FORM_TYPE", type: "hidden" }, xml("value", {}, NS_HTTP_UPLOAD)),
                xml("field", { var: "max-file-size" }, xml("value", {}, String(o.maxFileSize))),
              ),
            ];
      return xml("iq", { type: "result", from: to }, xml("query", { xmlns: DISCO_INFO }, xml("feature", { var: NS_HTTP_UPLOAD }), ...form));
    }
    const r = stanza.getChild("request", NS_HTTP_UPLOAD);
    if (r && to === "upload.example.org") return xml("iq", { type: "result", from: o.from ?? to }, o.slot(r));
    throw Object.assign(new Error("service-unavailable"), { condition: "service-unavailable" });
  };
  return { iq, requests };
}

function slotEl(put: string, get: string, headers: [string, string][] = []): Element {
  return xml("slot", { xmlns: NS_HTTP_UPLOAD }, xml("put", { url: put }, ...headers.map(([name, v]) => xml("header", { name }, v))), xml("get", { url: get }));
}

describe("XEP-0363 upload", () => {
  let dir: string;
  let file: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "jingled-upload-"));
    file = join(dir, "message.wav");
    writeFileSync(file, "RIFF....WAVEfmt voicemail");
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("finds the service among our server's items, with its size limit", async () => {
    const { iq } = scriptedServer({ maxFileSize: 1234, slot: () => slotEl("https://x/", "https://x/") });
    assert.deepEqual(await findUploadService(iq, "example.org"), { jid: "upload.example.org", maxFileSize: 1234 });
  });

  test("a slot's PUT gets the file with the allowed headers only, newlines stripped", async () => {
    const h = await httpServer(201);
    try {
      const { iq, requests } = scriptedServer({
        slot: () =>
          slotEl(`http://127.0.0.1:${h.port}/put/abc`, `http://127.0.0.1:${h.port}/get/abc`, [
            ["Authorization", "Basic Zm9v\r\nX-Injected: 1"],
            ["Cookie", "foo=bar"],
            ["Host", "elsewhere.example"],
            ["X-Other", "nope"],
          ]),
      });
      const url = await uploadFile({ iq, domain: "example.org", allowHttp: true }, file, "message.wav", "audio/wav");
      assert.equal(url.href, `http://127.0.0.1:${h.port}/get/abc`);
      assert.equal(h.got.length, 1);
      const put = h.got[0]!;
      assert.equal(put.method, "PUT");
      assert.equal(put.url, "/put/abc");
      assert.equal(put.body, "RIFF....WAVEfmt voicemail");
      assert.equal(put.headers["content-type"], "audio/wav");
      assert.equal(put.headers.authorization, "Basic Zm9vX-Injected: 1", "newlines stripped: no header of the slot's making");
      assert.equal(put.headers["x-injected"], undefined);
      assert.equal(put.headers.cookie, "foo=bar");
      assert.equal(put.headers.host, `127.0.0.1:${h.port}`);
      assert.equal(put.headers["x-other"], undefined);
      const request = requests.find((r) => r.getChild("request", NS_HTTP_UPLOAD))!;
      assert.equal(request.attrs.to, "upload.example.org");
      assert.deepEqual(request.getChild("request")!.attrs, { xmlns: NS_HTTP_UPLOAD, filename: "message.wav", size: "25", "content-type": "audio/wav" });
    } finally {
      h.server.close();
    }
  });

  test("attack: a slot with an http:// PUT URL gets nothing unless http is allowed", async () => {
    const h = await httpServer(201);
    try {
      const { iq } = scriptedServer({ slot: () => slotEl(`http://127.0.0.1:${h.port}/put`, `https://127.0.0.1:${h.port}/get`) });
      await assert.rejects(uploadFile({ iq, domain: "example.org", allowHttp: false }, file, "m.wav", "audio/wav"), (e: unknown) => e instanceof UploadError && e.code === "insecure-slot");
      assert.equal(h.got.length, 0, "nothing was sent in the clear");
    } finally {
      h.server.close();
    }
  });

  test("attack: other schemes are refused even with http allowed", () => {
    for (const put of ["file:///etc/passwd", "ftp://127.0.0.1/x", "javascript:alert(1)", "not a url"]) {
      assert.throws(() => parseSlot(xml("iq", {}, slotEl(put, "https://x/")), { allowHttp: true }), UploadError, put);
    }
    assert.throws(() => parseSlot(xml("iq", {}, slotEl("https://x/", "http://x/")), { allowHttp: false }), /GET URL is http/);
  });

  test("attack: a file larger than the service takes is not offered at all", async () => {
    const h = await httpServer(201);
    try {
      const { iq, requests } = scriptedServer({ maxFileSize: 10, slot: () => slotEl(`http://127.0.0.1:${h.port}/put`, `http://127.0.0.1:${h.port}/get`) });
      await assert.rejects(uploadFile({ iq, domain: "example.org", allowHttp: true }, file, "m.wav", "audio/wav"), (e: unknown) => e instanceof UploadError && e.code === "too-large");
      assert.equal(requests.filter((r) => r.getChild("request", NS_HTTP_UPLOAD)).length, 0, "no slot asked for");
      assert.equal(h.got.length, 0);
    } finally {
      h.server.close();
    }
  });

  test("attack: a redirect from the PUT URL is a failure, never followed", async () => {
    const elsewhere = await httpServer(201);
    const h = await httpServer(307, `http://127.0.0.1:${elsewhere.port}/stolen`);
    try {
      const { iq } = scriptedServer({ slot: () => slotEl(`http://127.0.0.1:${h.port}/put`, `http://127.0.0.1:${h.port}/get`) });
      await assert.rejects(uploadFile({ iq, domain: "example.org", allowHttp: true }, file, "m.wav", "audio/wav"), /HTTP 307/);
      assert.equal(elsewhere.got.length, 0, "the file went nowhere else");
    } finally {
      h.server.close();
      elsewhere.server.close();
    }
  });

  test("a slot from another JID than the service is refused", async () => {
    const { iq } = scriptedServer({ from: "evil.example.org", slot: () => slotEl("https://x/", "https://x/") });
    await assert.rejects(uploadFile({ iq, domain: "example.org", allowHttp: false }, file, "m.wav", "audio/wav"), /came from evil\.example\.org/);
  });

  test("a server without the service says so", async () => {
    const iq: IqRequest = async (s) => xml("iq", { type: "result", from: s.attrs.to }, xml("query", { xmlns: s.getChild("query")!.attrs.xmlns }));
    await assert.rejects(uploadFile({ iq, domain: "example.org", allowHttp: false }, file, "m.wav", "audio/wav"), (e: unknown) => e instanceof UploadError && e.code === "no-service");
  });

  test("max-file-size is read only from the upload form", () => {
    const other = xml("query", {}, xml("x", { xmlns: "jabber:x:data" }, xml("field", { var: "FORM_TYPE" }, xml("value", {}, "urn:other")), xml("field", { var: "max-file-size" }, xml("value", {}, "5"))));
    assert.equal(maxFileSizeOf(other), undefined);
  });
});
