// The package's public entry (`import { connectControl } from "jingled"`):
// the control client and the control protocol's own types and constants, the
// same ones the daemon and jinglectl use (documented in ./protocol.ts and
// docs/control-protocol.md).
//
//   const client = await connectControl(defaultSocketPath());
//   const { callId } = await client.request("call", { jid: "bob@example.org" });
//   for await (const e of client.events()) if (e.event === "call") ...
export { connectControl, ControlClient, ControlRequestError, ClientErrorCode, type AnyEvent, type ConnectOptions } from "./client.js";
export * from "./protocol.js";
export { defaultSocketPath } from "./socket-path.js";
export { VERSION } from "../version.js";
