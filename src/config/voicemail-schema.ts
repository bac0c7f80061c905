// calls.voicemail and calls.echo: the keys of the voicemail and the echo
// service (src/app/voicemail.ts, src/app/echo-service.ts), part of the
// calls section of the schema (./schema.ts). Every key is documented in
// config/example.yaml.
import { z } from "zod";

const bareJid = z.string().regex(/^[^@/\s]+@[^@/\s]+$/, "expected a bare JID (user@example.org)");

export const voicemailSchema = z
  .strictObject({
    enabled: z.boolean().default(false),
    /** An incoming call nobody answered for this long is answered by the voicemail (below calls.ringTimeoutSec). */
    afterSec: z.number().min(0).max(600).default(20),
    /** The greeting: a WAV file, or text spoken by espeak-ng (when installed); neither: a short tone. */
    greetingFile: z.string().min(1).optional(),
    greetingText: z.string().min(1).max(2000).optional(),
    /** The message is at most this long; the caller ends it sooner by hanging up or pressing #. */
    maxSec: z.number().int().min(1).max(3600).default(120),
    /** Who gets the chat message with the recording's link (bare JIDs). */
    notify: z.array(bareJid).max(50).default([]),
    /** Where recordings are kept (files 0600, the directory 0700). */
    dir: z.string().min(1).optional(),
    /** Recordings older than this are deleted (0: no age limit). */
    keepDays: z.number().min(0).max(3650).default(30),
    /** At most this many recordings are kept, the oldest deleted first (0: no count limit). */
    keepCount: z.number().int().min(0).max(100000).default(100),
    /** Accept an http:// upload slot from the server (XEP-0363 says https; only for a trusted network). */
    allowHttpUpload: z.boolean().default(false),
  })
  .prefault({})
  .superRefine((v, ctx) => {
    if (!v.enabled) return;
    if (v.notify.length === 0) ctx.addIssue({ code: "custom", path: ["notify"], message: "voicemail needs at least one JID to tell (notify)" });
    if (v.dir === undefined) ctx.addIssue({ code: "custom", path: ["dir"], message: "voicemail needs a directory for its recordings (dir)" });
    if (v.greetingFile !== undefined && v.greetingText !== undefined) ctx.addIssue({ code: "custom", path: ["greetingFile"], message: "give greetingFile or greetingText, not both" });
  });

/** The echo and quality probe: answer allowed callers, play back what they say, send them the call's network report. */
export const echoKeys = {
  echo: z.boolean().default(false),
  /** How much later the caller hears itself, ms. */
  echoDelayMs: z.number().int().min(0).max(10_000).default(1500),
};
