// calls.forward: an incoming call is forwarded to a ring group and, once a
// target answers, the audio of the two calls is bridged (a door phone or a
// gateway that forwards without a person; src/app/call-forward.ts).
import { z } from "zod";
import { USER_JID_PATTERN } from "../util/jid.js";

/** A ring group's targets at most (the call command's limit too: control/command-args.ts MAX_RING_TARGETS). */
const MAX_TARGETS = 8;

const targetJid = z.string().regex(USER_JID_PATTERN, "expected a bare or full JID (user@example.org or user@example.org/resource)");

export const forwardSchema = z.strictObject({
  /** The ring group: bare JIDs (every device rings, XEP-0353) or full JIDs, each once. */
  to: z
    .array(targetJid)
    .min(1)
    .max(MAX_TARGETS)
    .refine((jids) => new Set(jids.map((j) => j.toLowerCase())).size === jids.length, "each JID at most once"),
  /** Ring every target at once (the first to answer wins), or one after the other. */
  strategy: z.enum(["simultaneous", "sequential"]).default("simultaneous"),
  /** Simultaneous: how long the group rings; sequential: how long each target rings. */
  ringSec: z.number().int().min(1).max(600).default(20),
});

export type ForwardConfig = z.infer<typeof forwardSchema>;
