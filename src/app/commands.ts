// The control commands (protocol in src/control/protocol.ts), one function
// each, built from the app's pieces. Every handler checks its arguments with
// parseCommandArgs first, so bad input is reported the same way everywhere;
// errors are typed (CommandError / CallError) and become protocol errors in
// the command dispatcher (control/dispatch.ts), for every front end.
import type { z } from "zod";
import {
  parseCommandArgs,
  resolveCallId,
  type CallArgs,
  type CallInfo,
  type CallResult,
  type CallStartResult,
  type CommandName,
  type CommandResult,
  type DevicesResult,
  type PresenceShow,
  type ReloadResult,
  type StatusResult,
} from "../control/protocol.js";
import type { ClientInfo } from "../control/dispatch.js";
import { formatIssues } from "../config/load.js";
import { sinkSpec, sourceSpec } from "../config/schema.js";
import { checkReadableFile } from "../media/client-path.js";
import type { SourceSpec } from "../media/sources/source.js";
import type { SinkSpec } from "../media/sinks/sink.js";
import { CommandError } from "../util/errors.js";
import type { Roster } from "../xmpp/roster.js";
import type { AccountState } from "../util/vocabulary.js";
import type { CallControl } from "./ring-group.js";
import type { Voicemail } from "./voicemail.js";
import { mayPlaceCall, type CallPolicy } from "./policy.js";

export interface CommandContext {
  /** The calls that exist now (not ended). */
  calls(): CallControl[];
  /** `by`: the client placing it, for the log. */
  placeCall(args: CallArgs, by: string): Promise<CallStartResult>;
  status(): StatusResult;
  callList(): CallInfo[];
  policy(): CallPolicy;
  account(): { state: AccountState };
  setPresence(show: PresenceShow, text?: string): Promise<void>;
  roster: Pick<Roster, "items" | "requests" | "add" | "approve" | "remove">;
  /** The recordings calls.voicemail keeps. */
  voicemail: Pick<Voicemail, "recordings" | "deleteRecording" | "deleteOlderThan">;
  /** The available full JIDs of a bare JID, best first, from the presence received. */
  online(bare: string): string[];
  devices(): Promise<DevicesResult>;
  reload(): Promise<ReloadResult>;
  /** Starts stopping the daemon (after this reply is written). */
  shutdown(): void;
}

/** One handler per command, each bound to return what the protocol says the command gives (CommandMap). */
export type CommandHandlers = { [C in CommandName]: (args: Record<string, unknown>, client: ClientInfo) => CommandResult<C> | Promise<CommandResult<C>> };

export function callResult(call: CallControl): CallResult {
  const info = call.info();
  return { callId: call.id, state: info.state, held: info.held === true, muted: info.muted === true };
}

/** A client as the log names it: its front end and number ("socket client 3", "mqtt client 1"). */
export function clientName(client: ClientInfo): string {
  return `${client.via ?? "socket"} client ${client.id}`;
}

function findCall(ctx: CommandContext, callId: string | undefined): CallControl {
  const calls = ctx.calls();
  const id = resolveCallId(callId, calls);
  return calls.find((c) => c.id === id)!;
}

/**
 * Figures in status and the call list are refreshed when older than this: a
 * client polling them in a loop costs a call's media thread at most four
 * replies a second (docs/architecture.md, "The media plane").
 */
export const LISTED_STATS_MAX_AGE_MS = 250;

async function refreshStats(ctx: CommandContext): Promise<void> {
  await Promise.all(ctx.calls().map((c) => c.freshStats(LISTED_STATS_MAX_AGE_MS)));
}

function requireOnline(ctx: CommandContext, cmd: string): void {
  const { state } = ctx.account();
  if (state !== "online") throw new CommandError("not-connected", `${cmd}: the account is ${state}`);
}

/** A source or sink from a command, checked like the config file's media.input / media.output. */
function deviceSpec<T>(cmd: string, key: string, schema: z.ZodType<T>, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new CommandError("bad-argument", `${cmd}: ${formatIssues(parsed.error.issues, value).map((m) => `${key}.${m}`).join("; ")}`);
  }
  const path = (parsed.data as { path?: unknown }).path;
  // "-" is a pipe's stdin/stdout; any other path is on the daemon's machine, whose working directory clients cannot know.
  if (typeof path === "string" && path !== "-" && !path.startsWith("/")) {
    throw new CommandError("bad-argument", `${cmd}: ${key}.path must be an absolute path, found "${path.slice(0, 200)}"`);
  }
  return parsed.data;
}

export function createCommandHandlers(ctx: CommandContext): CommandHandlers {
  return {
    call: async (a, client) => {
      const args = parseCommandArgs("call", a);
      requireOnline(ctx, "call");
      const { maxCalls } = ctx.policy();
      if (!mayPlaceCall(ctx.policy(), ctx.calls().length)) {
        throw new CommandError("busy", `call: ${maxCalls} call${maxCalls === 1 ? "" : "s"} at once at most (calls.maxCalls)`);
      }
      return ctx.placeCall(args, clientName(client));
    },
    answer: async (a, client) => {
      const call = findCall(ctx, parseCommandArgs("answer", a).callId);
      await call.answer(clientName(client));
      return callResult(call);
    },
    reject: async (a, client) => {
      const args = parseCommandArgs("reject", a);
      const call = findCall(ctx, args.callId);
      await call.reject(args.reason ?? "decline", clientName(client));
      return callResult(call);
    },
    hangup: async (a, client) => {
      const call = findCall(ctx, parseCommandArgs("hangup", a).callId);
      await call.hangup("success", clientName(client));
      return callResult(call);
    },
    hold: async (a) => {
      const call = findCall(ctx, parseCommandArgs("hold", a).callId);
      await call.setHeld(true);
      return callResult(call);
    },
    resume: async (a) => {
      const call = findCall(ctx, parseCommandArgs("resume", a).callId);
      await call.setHeld(false);
      return callResult(call);
    },
    mute: async (a) => {
      const call = findCall(ctx, parseCommandArgs("mute", a).callId);
      await call.setMuted(true);
      return callResult(call);
    },
    unmute: async (a) => {
      const call = findCall(ctx, parseCommandArgs("unmute", a).callId);
      await call.setMuted(false);
      return callResult(call);
    },
    dtmf: async (a) => {
      const args = parseCommandArgs("dtmf", a);
      const call = findCall(ctx, args.callId);
      await call.sendDtmf(args.digits, args.durationMs);
      return { callId: call.id, digits: args.digits };
    },
    play: async (a) => {
      const args = parseCommandArgs("play", a);
      const call = findCall(ctx, args.callId);
      const file = await checkReadableFile(args.file, { cmd: "play" });
      await call.play(file);
      return { callId: call.id, file };
    },
    record: async (a) => {
      const args = parseCommandArgs("record", a);
      const call = findCall(ctx, args.callId);
      const file = args.action === "start" ? await call.startRecording(args.file!, { overwrite: args.overwrite === true }) : await call.stopRecording();
      return { callId: call.id, file };
    },
    stats: async (a) => {
      const call = findCall(ctx, parseCommandArgs("stats", a).callId);
      const stats = await call.freshStats();
      return { callId: call.id, state: call.state, ...(stats ?? {}) };
    },
    "set-input": async (a) => {
      const args = parseCommandArgs("set-input", a);
      const call = findCall(ctx, args.callId);
      const spec: SourceSpec = deviceSpec("set-input", "source", sourceSpec, args.source);
      if (spec.type === "file") spec.path = await checkReadableFile(spec.path, { cmd: "set-input" });
      await call.setInput(spec);
      return callResult(call);
    },
    "set-output": async (a) => {
      const args = parseCommandArgs("set-output", a);
      const call = findCall(ctx, args.callId);
      const spec: SinkSpec = deviceSpec("set-output", "sink", sinkSpec, args.sink);
      await call.setOutput(spec, { overwrite: args.overwrite === true });
      return callResult(call);
    },
    status: async (a) => {
      parseCommandArgs("status", a);
      await refreshStats(ctx);
      return ctx.status();
    },
    calls: async (a) => {
      parseCommandArgs("calls", a);
      await refreshStats(ctx);
      return ctx.callList();
    },
    devices: async (a) => {
      parseCommandArgs("devices", a);
      return ctx.devices();
    },
    presence: async (a) => {
      const args = parseCommandArgs("presence", a);
      await ctx.setPresence(args.show, args.text);
      return args;
    },
    roster: async (a) => {
      const args = parseCommandArgs("roster", a);
      if (args.action === "list") return { items: ctx.roster.items().map((i) => ({ ...i, online: ctx.online(i.jid) })), requests: ctx.roster.requests() };
      requireOnline(ctx, "roster");
      const jid = args.jid!;
      if (args.action === "add") await ctx.roster.add(jid, args.name);
      else if (args.action === "approve") await ctx.roster.approve(jid);
      else await ctx.roster.remove(jid);
      return { jid };
    },
    voicemail: async (a) => {
      const args = parseCommandArgs("voicemail", a);
      if (args.action === "list") return ctx.voicemail.recordings();
      if (args.name !== undefined) return ctx.voicemail.deleteRecording(args.name);
      return ctx.voicemail.deleteOlderThan(args.olderThanDays!);
    },
    reload: async (a) => {
      parseCommandArgs("reload", a);
      return ctx.reload();
    },
    shutdown: (a) => {
      parseCommandArgs("shutdown", a);
      ctx.shutdown();
      return { stopping: true };
    },
  };
}
