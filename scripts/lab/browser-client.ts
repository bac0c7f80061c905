// The page side of the browser interop peer: a StanzaJS Jingle client in
// headless Chromium, driven by Playwright through `window.jingledPeer`.
// Bundled with esbuild by scripts/lab/browser-peer.ts (never loaded by Node).
//
// What it does that a StanzaJS web app would not:
// - no ICE servers at all: StanzaJS's default is a public STUN server, and
//   the stun URLs it builds from XEP-0215 replies are rejected by Chromium;
//   tests must not leave the machine (config `jingle.iceServers: []`, and
//   discoverICEServers() is never called);
// - every Jingle stanza in and out, every StanzaJS log line at warning level
//   or above and every peer-connection state change goes to a log that the
//   test reads, so an interop failure says what the browser got and what it
//   complained about;
// - the remote audio is captured as PCM (WebAudio + AudioWorklet, at the
//   AudioContext's 48 kHz) for comparison with what jingled played.
//
// The repository's tsconfig has no DOM library (it is a Node project), so the
// few browser APIs used here are declared below, locally to this module.
import { createClient } from "stanza";

// ---------------------------------------------------------------- browser API subset

interface MediaStreamTrack {
  readonly kind: string;
  readonly label: string;
  readonly readyState: string;
  stop(): void;
}
interface MediaStream {
  getTracks(): MediaStreamTrack[];
  getAudioTracks(): MediaStreamTrack[];
}
interface StatsReport {
  forEach(fn: (r: Record<string, unknown> & { id: string; type: string }) => void): void;
  get(id: string): (Record<string, unknown> & { id: string; type: string }) | undefined;
}
interface RTCPeerConnection {
  readonly iceConnectionState: string;
  readonly connectionState: string;
  readonly signalingState: string;
  readonly iceGatheringState: string;
  readonly localDescription: { type: string; sdp: string } | null;
  readonly remoteDescription: { type: string; sdp: string } | null;
  getStats(): Promise<StatsReport>;
  addEventListener(type: string, fn: () => void): void;
}
interface AudioNode {
  connect(dest: AudioNode): void;
  disconnect(): void;
}
interface AudioContext {
  readonly sampleRate: number;
  readonly state: string;
  readonly destination: AudioNode;
  readonly audioWorklet: { addModule(url: string): Promise<void> };
  resume(): Promise<void>;
  close(): Promise<void>;
  createMediaStreamSource(s: MediaStream): AudioNode;
}
interface AudioWorkletNode extends AudioNode {
  readonly port: { onmessage: ((e: { data: Float32Array }) => void) | null; postMessage(m: unknown): void };
}
interface HTMLAudioElement {
  srcObject: MediaStream | null;
  muted: boolean;
  play(): Promise<void>;
  pause(): void;
}
declare const window: Record<string, unknown>;
declare const navigator: { mediaDevices: { getUserMedia(c: { audio: boolean | Record<string, boolean>; video: boolean }): Promise<MediaStream> } };
declare const AudioContext: new (o: { sampleRate: number }) => AudioContext;
declare const AudioWorkletNode: new (ctx: AudioContext, name: string, o: Record<string, unknown>) => AudioWorkletNode;
declare const Audio: new () => HTMLAudioElement;
declare const MediaStream: new (tracks: MediaStreamTrack[]) => MediaStream;
declare const Blob: new (parts: string[], o: { type: string }) => object;
declare const URL: { createObjectURL(b: object): string };
declare function btoa(s: string): string;

// ---------------------------------------------------------------- StanzaJS subset

/** The parts of a StanzaJS MediaSession this page uses. */
interface StanzaSession {
  readonly sid: string;
  readonly peerID: string;
  readonly role: string;
  readonly state: string;
  readonly connectionState: string;
  readonly isInitiator: boolean;
  readonly pc: RTCPeerConnection;
  start(): Promise<void>;
  accept(): Promise<void>;
  addTrack(track: MediaStreamTrack, stream: MediaStream): Promise<void>;
  end(reason?: string, silent?: boolean): void;
}

// ---------------------------------------------------------------- types shared with the Node side

export interface ConnectOptions {
  jid: string;
  password: string;
  /** ws://127.0.0.1:PORT/xmpp-websocket */
  wsUrl: string;
  resource?: string;
  timeoutMs?: number;
}

export interface PeerLogEntry {
  /** ms since the page loaded */
  t: number;
  kind: "stanza-in" | "stanza-out" | "stanza-log" | "session" | "pc" | "error";
  text: string;
}

export interface PeerSessionState {
  sid: string;
  peer: string;
  direction: "outgoing" | "incoming";
  /** StanzaJS session state: starting, pending, active, ended */
  state: string;
  /** StanzaJS connection state: starting, connecting, connected, interrupted, disconnected, failed */
  connectionState: string;
  iceConnectionState: string;
  /** RTCPeerConnection.connectionState: "connected" needs ICE and DTLS */
  pcConnectionState: string;
  signalingState: string;
  hasRemoteDescription: boolean;
  /**
   * The remote description has a rejected m-line (port 0). StanzaJS writes
   * one for a Jingle content without DTLS parameters (no <fingerprint/>):
   * Chromium then accepts the description without error and the call can
   * never connect.
   */
  remoteMediaRejected: boolean;
  remoteTrack: boolean;
  endReason?: string;
  /** ms from creation (call() or the session-initiate) to pcConnectionState "connected" */
  setupMs?: number;
  answered: boolean;
}

export interface PeerState {
  online: boolean;
  jid?: string;
  autoAnswer: boolean;
  iceServers: unknown[];
  sessions: PeerSessionState[];
  recording: { active: boolean; frames: number; sampleRate?: number };
}

export interface PeerStats {
  sid: string;
  codec?: { mimeType: string; clockRate?: number; channels?: number; payloadType?: number; sdpFmtpLine?: string };
  transport?: { dtlsState?: string; tlsVersion?: string; dtlsCipher?: string; srtpCipher?: string; iceState?: string; dtlsRole?: string };
  pair?: {
    local: { address?: string; port?: number; type?: string; protocol?: string };
    remote: { address?: string; port?: number; type?: string; protocol?: string };
    currentRoundTripTime?: number;
  };
  inbound?: {
    packetsReceived?: number;
    bytesReceived?: number;
    packetsLost?: number;
    jitter?: number;
    concealedSamples?: number;
    concealmentEvents?: number;
    totalSamplesReceived?: number;
    /** NetEq time-stretching: samples removed to shrink its buffer, inserted to grow it */
    removedSamplesForAcceleration?: number;
    insertedSamplesForDeceleration?: number;
    /** seconds, summed over emitted samples (divide by jitterBufferEmittedCount) */
    jitterBufferDelay?: number;
    jitterBufferEmittedCount?: number;
  };
  outbound?: { packetsSent?: number; bytesSent?: number };
}

export interface Recording {
  sampleRate: number;
  frames: number;
  /** 16-bit little-endian mono PCM, base64 */
  pcm16Base64: string;
}

// ---------------------------------------------------------------- state

const t0 = performance.now();
const log: PeerLogEntry[] = [];
const MAX_LOG = 2000;

function note(kind: PeerLogEntry["kind"], text: string): void {
  log.push({ t: Math.round(performance.now() - t0), kind, text: text.length > 8000 ? text.slice(0, 8000) + "…" : text });
  if (log.length > MAX_LOG) log.splice(0, log.length - MAX_LOG);
}

function describe(v: unknown): string {
  if (v instanceof Error || (typeof v === "object" && v !== null && "message" in v && "name" in v)) {
    const e = v as { name: string; message: string };
    return `${e.name}: ${e.message}`;
  }
  try {
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s.length > 2000 ? s.slice(0, 2000) + "…" : s;
  } catch {
    return String(v);
  }
}

interface Tracked {
  session: StanzaSession;
  direction: "outgoing" | "incoming";
  createdAt: number;
  connectedAt?: number;
  remoteStream?: MediaStream;
  localStream?: MediaStream;
  endReason?: string;
  answered: boolean;
}

type Client = ReturnType<typeof createClient>;
let client: Client | undefined;
let autoAnswer = false;
const sessions = new Map<string, Tracked>();
const incomingWaiters: ((t: Tracked) => void)[] = [];

// ---------------------------------------------------------------- recording

const RECORDER_MODULE = `
class JingledRecorder extends AudioWorkletProcessor {
  constructor() { super(); this.buf = new Float32Array(4800); this.n = 0; }
  process(inputs) {
    const ch = inputs[0] && inputs[0][0];
    if (ch) {
      for (let i = 0; i < ch.length; i++) {
        this.buf[this.n++] = ch[i];
        if (this.n === this.buf.length) { this.port.postMessage(this.buf); this.buf = new Float32Array(4800); this.n = 0; }
      }
    }
    return true;
  }
}
registerProcessor("jingled-recorder", JingledRecorder);
`;

const rec = {
  active: false,
  chunks: [] as Float32Array[],
  frames: 0,
  ctx: undefined as AudioContext | undefined,
  nodes: [] as AudioNode[],
  element: undefined as HTMLAudioElement | undefined,
  attached: undefined as MediaStream | undefined,
};

async function audioContext(): Promise<AudioContext> {
  if (!rec.ctx) {
    const ctx = new AudioContext({ sampleRate: 48000 });
    const url = URL.createObjectURL(new Blob([RECORDER_MODULE], { type: "text/javascript" }));
    await ctx.audioWorklet.addModule(url);
    rec.ctx = ctx;
  }
  if (rec.ctx.state !== "running") await rec.ctx.resume();
  return rec.ctx;
}

/** Routes a remote stream into the recorder (replacing the previous one). */
async function attachRecorder(stream: MediaStream): Promise<void> {
  if (rec.attached === stream) return;
  for (const n of rec.nodes) n.disconnect();
  rec.nodes = [];
  // Chromium quirk: a remote WebRTC stream delivers no samples to WebAudio
  // unless it is also the source of a media element (muted is enough).
  rec.element?.pause();
  const el = new Audio();
  el.muted = true;
  el.srcObject = stream;
  el.play().catch((err: unknown) => note("error", `audio element play(): ${describe(err)}`));
  rec.element = el;
  const ctx = await audioContext();
  const src = ctx.createMediaStreamSource(stream);
  const node = new AudioWorkletNode(ctx, "jingled-recorder", { numberOfInputs: 1, numberOfOutputs: 1, channelCount: 1, channelCountMode: "explicit" });
  node.port.onmessage = (e) => {
    if (!rec.active) return;
    rec.chunks.push(e.data);
    rec.frames += e.data.length;
  };
  src.connect(node);
  node.connect(ctx.destination); // pulls the graph; the node outputs silence
  rec.nodes = [src, node];
  rec.attached = stream;
  note("session", "recorder attached to the remote stream");
}

function pcm16Base64(chunks: Float32Array[], frames: number): string {
  const bytes = new Uint8Array(frames * 2);
  let o = 0;
  for (const c of chunks) {
    for (let i = 0; i < c.length; i++) {
      const v = Math.max(-1, Math.min(1, c[i]!));
      const s = v < 0 ? Math.round(v * 32768) : Math.round(v * 32767);
      bytes[o++] = s & 0xff;
      bytes[o++] = (s >> 8) & 0xff;
    }
  }
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

// ---------------------------------------------------------------- sessions

function track(session: StanzaSession, direction: "outgoing" | "incoming"): Tracked {
  let t = sessions.get(session.sid);
  if (t) return t;
  t = { session, direction, createdAt: performance.now(), answered: false };
  sessions.set(session.sid, t);
  const tracked = t;
  const pc = session.pc;
  const onChange = (): void => {
    note("pc", `${session.sid}: ice=${pc.iceConnectionState} pc=${pc.connectionState} signaling=${pc.signalingState} gathering=${pc.iceGatheringState}`);
    if (pc.connectionState === "connected" && tracked.connectedAt === undefined) tracked.connectedAt = performance.now();
  };
  for (const ev of ["iceconnectionstatechange", "connectionstatechange", "signalingstatechange", "icegatheringstatechange"]) {
    pc.addEventListener(ev, onChange);
  }
  return t;
}

async function microphone(): Promise<MediaStream> {
  // Chromium's fake device (--use-fake-device-for-media-stream) plays the
  // file given with --use-file-for-fake-audio-capture. Echo cancellation,
  // noise suppression and gain control are off: they reshape the waveform
  // the test compares with the file.
  return navigator.mediaDevices.getUserMedia({
    audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false },
    video: false,
  });
}

async function answerSession(t: Tracked): Promise<void> {
  if (t.answered) return;
  t.answered = true;
  const stream = await microphone();
  t.localStream = stream;
  for (const tr of stream.getAudioTracks()) await t.session.addTrack(tr, stream);
  note("session", `${t.session.sid}: accepting`);
  await t.session.accept();
}

function requireClient(): Client {
  if (!client) throw new Error("not connected: call connect() first");
  return client;
}

function sessionState(t: Tracked): PeerSessionState {
  const s = t.session;
  const pc = s.pc;
  const st: PeerSessionState = {
    sid: s.sid,
    peer: s.peerID,
    direction: t.direction,
    state: s.state,
    connectionState: s.connectionState,
    iceConnectionState: pc.iceConnectionState,
    pcConnectionState: pc.connectionState,
    signalingState: pc.signalingState,
    hasRemoteDescription: pc.remoteDescription !== null,
    remoteMediaRejected: pc.remoteDescription !== null && /^m=\w+ 0 /m.test(pc.remoteDescription.sdp),
    remoteTrack: t.remoteStream !== undefined,
    answered: t.answered,
  };
  if (t.endReason !== undefined) st.endReason = t.endReason;
  if (t.connectedAt !== undefined) st.setupMs = Math.round(t.connectedAt - t.createdAt);
  return st;
}

function pick(sid?: string): Tracked {
  if (sid !== undefined) {
    const t = sessions.get(sid);
    if (!t) throw new Error(`no session ${sid}`);
    return t;
  }
  const live = [...sessions.values()].filter((t) => t.session.state !== "ended");
  if (live.length !== 1) throw new Error(`${live.length} live sessions: name one by sid`);
  return live[0]!;
}

/** Every iq (Jingle requests, their acknowledgements, errors), not the roster/disco chatter of the login. */
const LOGGED = /^<iq\b/;

// ---------------------------------------------------------------- the API

const api = {
  async connect(o: ConnectOptions): Promise<{ jid: string }> {
    if (client) throw new Error("already connected");
    const c = createClient({
      jid: o.jid,
      password: o.password,
      resource: o.resource ?? "browser",
      transports: { websocket: o.wsUrl, bosh: false },
      allowResumption: false,
      // The public STUN server StanzaJS uses by default must never be contacted.
      jingle: { iceServers: [], trickleIce: true },
    });
    c.jingle.resetICEServers();
    client = c;
    c.on("raw:incoming", (xml: string) => {
      if (LOGGED.test(xml) && client?.sessionStarted) note("stanza-in", xml);
    });
    c.on("raw:outgoing", (xml: string) => {
      if (LOGGED.test(xml) && client?.sessionStarted) note("stanza-out", xml);
    });
    c.jingle.on("log", (level: string, message: string, ...data: unknown[]) => {
      if (level === "error" || level === "warn" || /candidate|session|answer|offer/i.test(message)) {
        note("stanza-log", `[${level}] ${message}${data.length ? " " + data.map(describe).join(" ") : ""}`);
      }
    });
    c.on("jingle:created", (s) => {
      const session = s as unknown as StanzaSession;
      track(session, session.isInitiator ? "outgoing" : "incoming");
      note("session", `${session.sid}: created (${session.isInitiator ? "outgoing" : "incoming"}, peer ${session.peerID})`);
    });
    c.on("jingle:incoming", (s) => {
      const t = track(s as unknown as StanzaSession, "incoming");
      note("session", `${t.session.sid}: incoming from ${t.session.peerID}`);
      const waiter = incomingWaiters.shift();
      if (waiter) waiter(t);
      else if (autoAnswer) answerSession(t).catch((err: unknown) => note("error", `auto-answer ${t.session.sid}: ${describe(err)}`));
    });
    c.on("jingle:accepted", (s) => note("session", `${(s as unknown as StanzaSession).sid}: accepted by the peer`));
    c.on("jingle:ringing", (s) => note("session", `${(s as unknown as StanzaSession).sid}: ringing`));
    c.on("jingle:terminated", (s, reason) => {
      const session = s as unknown as StanzaSession;
      const t = sessions.get(session.sid);
      const r = reason as { condition?: string; text?: string } | undefined;
      if (t) t.endReason = r?.condition ?? "unknown";
      for (const tr of t?.localStream?.getTracks() ?? []) tr.stop();
      note("session", `${session.sid}: terminated (${r?.condition ?? "no reason"}${r?.text ? `: ${r.text}` : ""})`);
    });
    c.jingle.on("peerTrackAdded", (s: StanzaSession, _track: MediaStreamTrack, stream: MediaStream | undefined) => {
      const t = sessions.get(s.sid);
      if (!t) return;
      t.remoteStream = stream ?? new MediaStream([_track]);
      note("session", `${s.sid}: remote ${_track.kind} track`);
      if (rec.active) attachRecorder(t.remoteStream).catch((err: unknown) => note("error", `recorder: ${describe(err)}`));
    });
    const timeoutMs = o.timeoutMs ?? 15000;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no XMPP session within ${timeoutMs} ms`)), timeoutMs);
      c.once("session:started", () => {
        clearTimeout(timer);
        resolve();
      });
      c.once("auth:failed", () => {
        clearTimeout(timer);
        reject(new Error("authentication failed"));
      });
      c.once("stream:error", (e: unknown) => {
        clearTimeout(timer);
        reject(new Error(`stream error: ${describe(e)}`));
      });
      c.connect();
    });
    await c.sendPresence();
    note("session", `online as ${c.jid}`);
    return { jid: c.jid };
  },

  async disconnect(): Promise<void> {
    if (!client) return;
    client.jingle.endAllSessions("gone");
    await client.disconnect();
    client = undefined;
  },

  /** The peer's disco#info features (XEP-0030), as a web app checks before offering a call button. */
  async discoFeatures(jid: string): Promise<string[]> {
    const info = await requireClient().getDiscoInfo(jid);
    return info.features ?? [];
  },

  setAutoAnswer(on: boolean): void {
    autoAnswer = on;
  },

  /** Starts a call (session-initiate straight to a full JID, as StanzaJS apps do). */
  async call(fullJid: string): Promise<{ sid: string }> {
    const c = requireClient();
    const stream = await microphone();
    const session = c.jingle.createMediaSession(fullJid, undefined, stream) as unknown as StanzaSession;
    const t = track(session, "outgoing");
    t.localStream = stream;
    session.start().catch((err: unknown) => note("error", `start ${session.sid}: ${describe(err)}`));
    return { sid: session.sid };
  },

  /** Answers the incoming session `sid`, or the next one to arrive. */
  async answer(sid?: string, timeoutMs = 10000): Promise<{ sid: string }> {
    let t = sid !== undefined ? sessions.get(sid) : [...sessions.values()].find((x) => x.direction === "incoming" && !x.answered && x.session.state !== "ended");
    if (!t) {
      t = await new Promise<Tracked>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no incoming session within ${timeoutMs} ms`)), timeoutMs);
        incomingWaiters.push((x) => {
          clearTimeout(timer);
          resolve(x);
        });
      });
    }
    await answerSession(t);
    return { sid: t.session.sid };
  },

  /** Ends one session (or every live one), with reason "success". */
  hangup(sid?: string, reason = "success"): void {
    const targets = sid !== undefined ? [pick(sid)] : [...sessions.values()].filter((t) => t.session.state !== "ended");
    for (const t of targets) {
      t.endReason ??= `local ${reason}`;
      t.session.end(reason);
      for (const tr of t.localStream?.getTracks() ?? []) tr.stop();
    }
  },

  state(): PeerState {
    return {
      online: client !== undefined && client.sessionStarted === true,
      ...(client?.jid ? { jid: client.jid } : {}),
      autoAnswer,
      iceServers: client ? client.jingle.iceServers : [],
      sessions: [...sessions.values()].map(sessionState),
      recording: { active: rec.active, frames: rec.frames, ...(rec.ctx ? { sampleRate: rec.ctx.sampleRate } : {}) },
    };
  },

  log(since = 0): PeerLogEntry[] {
    return log.filter((e) => e.t >= since);
  },

  /** The local and remote SDP StanzaJS handed to Chromium (for diagnostics). */
  sdp(sid?: string): { local?: string; remote?: string } {
    const pc = pick(sid).session.pc;
    return { ...(pc.localDescription ? { local: pc.localDescription.sdp } : {}), ...(pc.remoteDescription ? { remote: pc.remoteDescription.sdp } : {}) };
  },

  /** Starts capturing the remote audio of the current (or next) session. */
  async startRecording(): Promise<void> {
    rec.chunks = [];
    rec.frames = 0;
    rec.active = true;
    await audioContext();
    const withAudio = [...sessions.values()].reverse().find((t) => t.remoteStream && t.session.state !== "ended");
    if (withAudio?.remoteStream) await attachRecorder(withAudio.remoteStream);
  },

  stopRecording(): Recording {
    rec.active = false;
    const out = { sampleRate: rec.ctx?.sampleRate ?? 48000, frames: rec.frames, pcm16Base64: pcm16Base64(rec.chunks, rec.frames) };
    rec.chunks = [];
    rec.frames = 0;
    return out;
  },

  async stats(sid?: string): Promise<PeerStats> {
    const t = pick(sid);
    const report = await t.session.pc.getStats();
    const out: PeerStats = { sid: t.session.sid };
    const num = (v: unknown): number | undefined => (typeof v === "number" ? v : undefined);
    const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
    const cand = (id: unknown) => {
      const c = typeof id === "string" ? report.get(id) : undefined;
      return { address: str(c?.address ?? c?.ip), port: num(c?.port), type: str(c?.candidateType), protocol: str(c?.protocol) };
    };
    report.forEach((r) => {
      if (r.type === "transport") {
        out.transport = {
          dtlsState: str(r.dtlsState),
          tlsVersion: str(r.tlsVersion),
          dtlsCipher: str(r.dtlsCipher),
          srtpCipher: str(r.srtpCipher),
          iceState: str(r.iceState),
          dtlsRole: str(r.dtlsRole),
        };
        const pair = typeof r.selectedCandidatePairId === "string" ? report.get(r.selectedCandidatePairId) : undefined;
        if (pair) out.pair = { local: cand(pair.localCandidateId), remote: cand(pair.remoteCandidateId), currentRoundTripTime: num(pair.currentRoundTripTime) };
      } else if (r.type === "inbound-rtp" && r.kind === "audio") {
        out.inbound = {
          packetsReceived: num(r.packetsReceived),
          bytesReceived: num(r.bytesReceived),
          packetsLost: num(r.packetsLost),
          jitter: num(r.jitter),
          concealedSamples: num(r.concealedSamples),
          concealmentEvents: num(r.concealmentEvents),
          totalSamplesReceived: num(r.totalSamplesReceived),
          removedSamplesForAcceleration: num(r.removedSamplesForAcceleration),
          insertedSamplesForDeceleration: num(r.insertedSamplesForDeceleration),
          jitterBufferDelay: num(r.jitterBufferDelay),
          jitterBufferEmittedCount: num(r.jitterBufferEmittedCount),
        };
        const codec = typeof r.codecId === "string" ? report.get(r.codecId) : undefined;
        if (codec) {
          out.codec = {
            mimeType: str(codec.mimeType) ?? "?",
            clockRate: num(codec.clockRate),
            channels: num(codec.channels),
            payloadType: num(codec.payloadType),
            sdpFmtpLine: str(codec.sdpFmtpLine),
          };
        }
      } else if (r.type === "outbound-rtp" && r.kind === "audio") {
        out.outbound = { packetsSent: num(r.packetsSent), bytesSent: num(r.bytesSent) };
      }
    });
    return out;
  },
};

export type PeerApi = typeof api;

window.jingledPeer = api;
window.jingledPeerReady = true;
