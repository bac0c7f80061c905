// jinglectl's command line: the commands with their help, option and
// argument checks (usage errors exit 64 before anything is sent).
import { resolve as resolvePath } from "node:path";
import { parseArgs } from "node:util";
import { COMMAND_NAMES, MAX_RING_SEC, MAX_RING_TARGETS, PresenceShow, RecordAction, RejectReason, RingStrategy, RosterAction, VoicemailAction, type DeviceSpec } from "../control/protocol.js";
import { defaultSocketPath } from "../control/socket-path.js";
import { CODEC_IDS, sinkSpec, sourceSpec } from "../config/schema.js";

export const ExitCode = {
  Ok: 0,
  CommandFailed: 1,
  CallUnsuccessful: 2,
  NoDaemon: 3,
  Usage: 64, // EX_USAGE from sysexits.h
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** What a shell may complete for a positional argument: these words, or a file name. */
export type Completion = readonly string[] | "file";

interface CommandSpec {
  usage: string;
  summary: string;
  details?: string;
  /** Command-specific options this command accepts. */
  options: readonly LocalOption[];
  minArgs: number;
  maxArgs: number;
  /** Shell completion of the positional arguments, in order (./completion.ts). */
  complete?: readonly Completion[];
  /** Answered without the daemon (no socket is opened). */
  local?: boolean;
}

type LocalOption = "codec" | "wait" | "reason" | "duration" | "name" | "loop" | "overwrite" | "strategy" | "ring-sec" | "older-than";
const LOCAL_OPTIONS = ["codec", "wait", "reason", "duration", "name", "loop", "overwrite", "strategy", "ring-sec", "older-than"] as const satisfies readonly LocalOption[];

/** The values a command-specific option takes (for completion); undefined for a flag or free text. */
export const OPTION_VALUES: Record<LocalOption, readonly string[] | "text" | undefined> = {
  codec: CODEC_IDS,
  wait: undefined,
  reason: Object.values(RejectReason),
  duration: "text",
  name: "text",
  loop: undefined,
  overwrite: undefined,
  strategy: Object.values(RingStrategy),
  "ring-sec": "text",
  "older-than": "text",
};

/** The source and sink types of the config schema, as set-input / set-output take them (file:PATH, pipe:PATH, TYPE[:DEVICE]). */
const deviceWords = (types: readonly string[]): string[] => types.map((t) => (t === "file" || t === "pipe" ? `${t}:` : t));
const SOURCE_WORDS = deviceWords(sourceSpec.options.map((o) => o.shape.type.value));
const SINK_WORDS = deviceWords(sinkSpec.options.map((o) => o.shape.type.value));
export const SHELLS = ["bash", "zsh"] as const;

export const COMMANDS = {
  status: { usage: "status", summary: "account state and every call", options: [], minArgs: 0, maxArgs: 0 },
  calls: { usage: "calls", summary: "list the calls", options: [], minArgs: 0, maxArgs: 0 },
  call: {
    usage: "call <jid>... [--strategy simultaneous|sequential] [--ring-sec N] [--codec NAME]... [--wait]",
    summary: "call a bare JID (every device rings) or a full JID; several JIDs: a ring group",
    details:
      "  --codec NAME  codec preference, repeatable or comma-separated, e.g. opus or g722\n" +
      "                (`jinglectl status` lists the daemon's codecs; default: its config)\n" +
      "  --wait        follow the call and return when it ends:\n" +
      "                exit 0 when it ended normally (reason success), 2 otherwise\n" +
      `  several JIDs (up to ${MAX_RING_TARGETS}) or --strategy: one call to a ring group, the first to answer wins\n` +
      "  --strategy S  simultaneous (default: all ring at once) or sequential (one after the other)\n" +
      "  --ring-sec N  how long the group rings (simultaneous) or each JID rings (sequential)",
    options: ["codec", "wait", "strategy", "ring-sec"],
    minArgs: 1,
    maxArgs: MAX_RING_TARGETS,
  },
  answer: {
    usage: "answer [callId]",
    summary: "answer an incoming call",
    options: [],
    minArgs: 0,
    maxArgs: 1,
  },
  reject: {
    usage: "reject [callId] [--reason decline|busy]",
    summary: "refuse an incoming call (default reason decline)",
    options: ["reason"],
    minArgs: 0,
    maxArgs: 1,
  },
  hangup: { usage: "hangup [callId]", summary: "end a call", options: [], minArgs: 0, maxArgs: 1 },
  hold: { usage: "hold [callId]", summary: "put a call on hold (no audio either way)", options: [], minArgs: 0, maxArgs: 1 },
  resume: { usage: "resume [callId]", summary: "take a call off hold", options: [], minArgs: 0, maxArgs: 1 },
  mute: { usage: "mute [callId]", summary: "send silence instead of the input; the peer is told", options: [], minArgs: 0, maxArgs: 1 },
  unmute: { usage: "unmute [callId]", summary: "send the input again", options: [], minArgs: 0, maxArgs: 1 },
  dtmf: {
    usage: "dtmf <digits> [callId] [--duration MS]",
    summary: "send DTMF digits (0-9 * # A-D) as RFC 4733 events",
    details: "  --duration MS  tone length per digit, 40 to 2000 (default: the daemon's)",
    options: ["duration"],
    minArgs: 1,
    maxArgs: 2,
  },
  play: {
    usage: "play <file.wav> [callId]",
    summary: "play a WAV file into the call; the input resumes after it",
    details: "  A relative path is taken from the current directory. A playback event follows at its end.",
    options: [],
    minArgs: 1,
    maxArgs: 2,
    complete: ["file"],
  },
  record: {
    usage: "record start <file.wav> [callId] [--overwrite] | record stop [callId]",
    summary: "record what the peer says to a WAV file",
    details:
      "  {callId}, {peer} and {time} in the file name are filled in. A recording event follows when it is finished.\n" +
      "  The directory must exist; the file is created readable by the daemon's user only.\n" +
      "  --overwrite  replace the file if it exists (without it an existing file is an error and stays as it is)",
    options: ["overwrite"],
    minArgs: 1,
    maxArgs: 3,
    complete: [Object.values(RecordAction), "file"],
  },
  stats: { usage: "stats [callId]", summary: "media statistics of a call", options: [], minArgs: 0, maxArgs: 1 },
  "set-input": {
    usage: "set-input <source> [callId] [--loop]",
    summary: "switch what the peer hears, during the call",
    details:
      "  source: file:PATH.wav, tone[:HZ], silence, pipe:PATH (raw s16le), TYPE:DEVICE (see devices), or a JSON object\n" +
      "  --loop  repeat a file source",
    options: ["loop"],
    minArgs: 1,
    maxArgs: 2,
    complete: [SOURCE_WORDS],
  },
  "set-output": {
    usage: "set-output <sink> [callId] [--overwrite]",
    summary: "switch where the peer's audio goes, during the call",
    details:
      "  sink: file:PATH.wav, null, pipe:PATH (raw s16le), TYPE:DEVICE (see devices), or a JSON object\n" +
      "  --overwrite  a file sink replaces the file if it exists (without it an existing file is an error)",
    options: ["overwrite"],
    minArgs: 1,
    maxArgs: 2,
    complete: [SINK_WORDS],
  },
  devices: { usage: "devices", summary: "audio inputs and outputs this daemon can use", options: [], minArgs: 0, maxArgs: 0 },
  presence: {
    usage: "presence <available|chat|away|xa|dnd> [text...]",
    summary: "set the account's presence and status text",
    options: [],
    minArgs: 1,
    maxArgs: 64,
    complete: [Object.values(PresenceShow)],
  },
  roster: {
    usage: "roster [list] | roster add <jid> [--name NAME] | roster approve <jid> | roster remove <jid>",
    summary: "contacts and subscription requests",
    details:
      "  list     contacts and who asks to see our presence\n" +
      "  add      add a contact and ask for their presence (contacts may ring us by default)\n" +
      "  approve  let a contact see our presence\n" +
      "  remove   remove a contact",
    options: ["name"],
    minArgs: 0,
    maxArgs: 2,
    complete: [Object.values(RosterAction)],
  },
  voicemail: {
    usage: "voicemail [list] | voicemail delete <name> | voicemail delete --older-than DAYS",
    summary: "the voicemail's recordings (calls.voicemail): list or delete them",
    details:
      "  list     the recordings kept, newest first: time, caller, duration, size, file\n" +
      "  delete   delete one recording by its file name (voicemail-TIME-CALLER.wav, as the list shows it)\n" +
      "  --older-than DAYS  delete every recording older than DAYS days",
    options: ["older-than"],
    minArgs: 0,
    maxArgs: 2,
    complete: [Object.values(VoicemailAction)],
  },
  reload: {
    usage: "reload",
    summary: "re-read the config file (like SIGHUP); prints what changed",
    options: [],
    minArgs: 0,
    maxArgs: 0,
  },
  shutdown: {
    usage: "shutdown",
    summary: "end every call and stop the daemon (like SIGTERM)",
    options: [],
    minArgs: 0,
    maxArgs: 0,
  },
  events: {
    usage: "events",
    summary: "follow the event stream, one line per event (JSON lines with --json)",
    details: "  The first line is the daemon's hello with its snapshot. Runs until the daemon goes away (exit 3).",
    options: [],
    minArgs: 0,
    maxArgs: 0,
  },
  raw: {
    usage: "raw <cmd> [json-args]",
    summary: "send any command, e.g. raw call '{\"jid\":\"bob@example.org\"}'",
    options: [],
    minArgs: 1,
    maxArgs: 2,
    complete: [COMMAND_NAMES],
  },
  completion: {
    usage: "completion bash|zsh",
    summary: "print a shell completion script for jinglectl",
    details:
      "  bash: source <(jinglectl completion bash), or save it in /etc/bash_completion.d/jinglectl\n" +
      "  zsh:  source <(jinglectl completion zsh), or save it as _jinglectl in a directory of $fpath",
    options: [],
    minArgs: 1,
    maxArgs: 1,
    complete: [SHELLS],
    local: true,
  },
} as const satisfies Record<string, CommandSpec>;
export type CommandWord = keyof typeof COMMANDS;

const CALL_ID_NOTE = "  callId may be left out when exactly one call exists.";

export function globalHelp(): string {
  // Long usages get their summary on the next line, so the column stays narrow.
  const width = 38;
  const lines = Object.values(COMMANDS).map((c) =>
    c.usage.length <= width ? `  ${c.usage.padEnd(width)}  ${c.summary}` : `  ${c.usage}\n  ${"".padEnd(width)}  ${c.summary}`,
  );
  return `Usage: jinglectl [--socket PATH] [--json] <command> [args]

Control a running jingled.

Commands:
${lines.join("\n")}

Options:
  --socket PATH  control socket (default: $JINGLED_SOCKET, else ${defaultSocketPath()})
  --json         print raw JSON results and events, for scripts
  -h, --help     this help; "jinglectl <command> --help" for one command
  --version      print jinglectl's version and its control protocol version

Exit codes:
  0   ok
  1   the daemon refused the command (prints "error <code>: <message>" to stderr;
      with --json every failure is {"ok":false,"error":{"code","message"}} on stderr)
  2   call --wait: the call ended unsuccessfully (declined, busy, timeout, failure)
  3   cannot connect to the daemon, or the connection was lost
  64  usage error
`;
}

export function commandHelp(word: CommandWord): string {
  const spec: CommandSpec = COMMANDS[word];
  const parts = [`Usage: jinglectl [--socket PATH] [--json] ${spec.usage}`, "", spec.summary];
  if (spec.details) parts.push("", spec.details);
  if (spec.usage.includes("[callId]")) parts.push("", CALL_ID_NOTE);
  parts.push("", "Prints for people by default; --json prints the raw JSON result.");
  return parts.join("\n") + "\n";
}

export class UsageError extends Error {}

export interface Parsed {
  word: CommandWord | undefined;
  positionals: string[];
  socket: string | undefined;
  json: boolean;
  help: boolean;
  version: boolean;
  codecs: string[];
  wait: boolean;
  reason: RejectReason | undefined;
  duration: number | undefined;
  name: string | undefined;
  loop: boolean;
  overwrite: boolean;
  /** voicemail delete: recordings older than this many days. */
  olderThan: number | undefined;
  /** call: a ring group's strategy and ring time. */
  strategy: RingStrategy | undefined;
  ringSec: number | undefined;
}

export function parseCommandLine(argv: string[]): Parsed {
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        socket: { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean" },
        codec: { type: "string", multiple: true },
        wait: { type: "boolean" },
        reason: { type: "string" },
        duration: { type: "string" },
        name: { type: "string" },
        loop: { type: "boolean" },
        overwrite: { type: "boolean" },
        strategy: { type: "string" },
        "ring-sec": { type: "string" },
        "older-than": { type: "string" },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const [first, ...rest] = positionals;
  let word: CommandWord | undefined;
  let help = values.help ?? false;
  if (first === "help") {
    // "jinglectl help [command]" reads naturally too.
    help = true;
    if (rest[0] !== undefined) word = checkWord(rest[0]);
    rest.length = 0;
  } else if (first !== undefined) {
    word = checkWord(first);
  }
  if (word && !help) {
    const spec: CommandSpec = COMMANDS[word];
    for (const opt of LOCAL_OPTIONS) {
      if (values[opt] !== undefined && !spec.options.includes(opt)) {
        throw new UsageError(`${word} does not take --${opt}`);
      }
    }
    if (rest.length < spec.minArgs || rest.length > spec.maxArgs) {
      throw new UsageError(`usage: jinglectl ${spec.usage}`);
    }
  }
  // Which codecs exist is the daemon's to say (it answers unknown ones with the list).
  const codecs = (values.codec ?? []).flatMap((v) => v.split(",")).map((v) => v.trim().toLowerCase());
  for (const c of codecs) {
    if (!/^[a-z0-9][a-z0-9._-]{0,31}$/.test(c)) throw new UsageError(`--codec: "${c}" is not a codec name (like opus or g722)`);
  }
  const knownReasons = Object.values(RejectReason) as string[];
  if (values.reason !== undefined && !knownReasons.includes(values.reason)) {
    throw new UsageError(`--reason must be one of ${knownReasons.join(", ")}`);
  }
  const strategies = Object.values(RingStrategy) as string[];
  if (values.strategy !== undefined && !strategies.includes(values.strategy)) throw new UsageError(`--strategy must be one of ${strategies.join(", ")}`);
  let ringSec: number | undefined;
  if (values["ring-sec"] !== undefined) {
    ringSec = Number(values["ring-sec"]);
    if (!Number.isInteger(ringSec) || ringSec < 1 || ringSec > MAX_RING_SEC) throw new UsageError(`--ring-sec must be a whole number of seconds from 1 to ${MAX_RING_SEC}`);
  }
  let duration: number | undefined;
  if (values.duration !== undefined) {
    duration = Number(values.duration);
    if (!Number.isInteger(duration) || duration < 40 || duration > 2000) throw new UsageError("--duration must be a whole number of milliseconds from 40 to 2000");
  }
  if (word === "record" && !help) {
    const [action, ...more] = rest;
    if ((action !== "start" && action !== "stop") || (action === "start" && more.length < 1) || (action === "stop" && more.length > 1)) {
      throw new UsageError(`usage: jinglectl ${COMMANDS.record.usage}`);
    }
    if (action === "stop" && values.overwrite) throw new UsageError("--overwrite is only for record start");
  }
  if (word === "roster" && !help) {
    const [action, jid] = rest;
    if (action !== undefined && !["list", "add", "approve", "remove"].includes(action)) throw new UsageError(`usage: jinglectl ${COMMANDS.roster.usage}`);
    if ((action === undefined || action === "list") !== (jid === undefined)) throw new UsageError(`usage: jinglectl ${COMMANDS.roster.usage}`);
    if (values.name !== undefined && action !== "add") throw new UsageError("--name is only for roster add");
  }
  let olderThan: number | undefined;
  if (values["older-than"] !== undefined) {
    olderThan = Number(values["older-than"]);
    if (!Number.isFinite(olderThan) || olderThan <= 0 || olderThan > 3650) throw new UsageError("--older-than must be a number of days above 0, at most 3650");
  }
  if (word === "voicemail" && !help) {
    const [action, name] = rest;
    const usage = `usage: jinglectl ${COMMANDS.voicemail.usage}`;
    if (action !== undefined && action !== "list" && action !== "delete") throw new UsageError(usage);
    if ((action === undefined || action === "list") && (name !== undefined || olderThan !== undefined)) throw new UsageError(usage);
    if (action === "delete" && (name === undefined) === (olderThan === undefined)) throw new UsageError(usage);
  }
  if (word === "completion" && !help && !(SHELLS as readonly string[]).includes(rest[0]!)) {
    throw new UsageError(`completion: the shell must be one of ${SHELLS.join(", ")}`);
  }
  if (word === "presence" && !help) {
    const known = Object.values(PresenceShow) as string[];
    if (!known.includes(rest[0]!)) throw new UsageError(`presence must be one of ${known.join(", ")}`);
  }
  return {
    word,
    positionals: rest,
    socket: values.socket,
    json: values.json ?? false,
    help,
    version: values.version ?? false,
    codecs,
    wait: values.wait ?? false,
    reason: values.reason as RejectReason | undefined,
    duration,
    name: values.name,
    loop: values.loop ?? false,
    overwrite: values.overwrite ?? false,
    strategy: values.strategy as RingStrategy | undefined,
    ringSec,
    olderThan,
  };
}

function checkWord(word: string): CommandWord {
  if (Object.hasOwn(COMMANDS, word)) return word as CommandWord;
  throw new UsageError(`unknown command "${word}"`);
}

/**
 * A source or sink from the command line: file:PATH (made absolute here, where
 * the user's current directory is known), tone[:HZ], silence, null,
 * TYPE:DEVICE, or a JSON object passed as it is.
 */
export function parseDeviceSpec(text: string, kind: "source" | "sink", loop = false): DeviceSpec {
  let spec: DeviceSpec;
  if (text.startsWith("{")) {
    try {
      spec = JSON.parse(text) as DeviceSpec;
    } catch (e) {
      throw new UsageError(`${kind}: not valid JSON: ${(e as Error).message}`);
    }
  } else {
    const colon = text.indexOf(":");
    const type = colon < 0 ? text : text.slice(0, colon);
    const value = colon < 0 ? undefined : text.slice(colon + 1);
    if (type === "file" || type === "pipe") {
      if (!value) throw new UsageError(`${kind}: ${type} needs a path (${type}:PATH)`);
      spec = { type, path: value === "-" ? value : resolvePath(value) };
    } else if (type === "tone") {
      spec = value ? { type, frequency: Number(value) } : { type };
    } else if (value === undefined || value === "") spec = { type };
    else spec = { type, device: value };
  }
  if (loop) {
    if (kind !== "source" || spec.type !== "file") throw new UsageError("--loop is only for a file source");
    spec.loop = true;
  }
  return spec;
}
