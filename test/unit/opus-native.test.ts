// The native Opus backend (native/opus + src/media/codecs/opus-native.ts):
// in-band FEC recovery measured on real speech against concealment, LBRR
// detection, the same encoder settings as opusscript, many coexisting
// encoders and decoders, argument checking in the addon, and the backend
// selection. Skips (with the reason) when the addon is not built.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import {
  OpusBackend,
  OpusBackendChoice,
  createOpusDecoder,
  createOpusEncoder,
  nativeOpusProblem,
  opusBackend,
  resolveOpusBackend,
  selectOpusBackend,
} from "../../src/media/codecs/index.js";
import { NativeOpusDecoder, NativeOpusEncoder } from "../../src/media/codecs/opus-native.js";
import { loadOpusAddon } from "../../src/media/codecs/opus-addon.js";
import { OpusCtl } from "../../src/media/codecs/opus-packet.js";
import { validateConfig } from "../../src/config/load.js";
import { checkRuntime } from "../../src/app/runtime-checks.js";
import { ConfigError } from "../../src/util/errors.js";
import { makeSpeechWav } from "../../scripts/lab/speech.js";
import { readMono16 } from "../../scripts/lab/audio-compare.js";

const problem = nativeOpusProblem();
const skip = problem ? `native Opus backend not built: ${problem}` : false;
const FRAME = 960;

function hasEspeak(): boolean {
  try {
    execFileSync("espeak-ng", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Two sentences of espeak-ng speech at 48 kHz (about 6 s). */
async function speech48k(): Promise<Int16Array> {
  const dir = mkdtempSync(join(tmpdir(), "jingled-opus-"));
  try {
    const wav = join(dir, "speech.wav");
    await makeSpeechWav(
      "The quick brown fox jumps over the lazy dog. Forward error correction carries a second copy of each frame in the next packet.",
      wav,
      { sampleRate: 48000 },
    );
    const { pcm, rate } = readMono16(wav);
    assert.equal(rate, 48000);
    return pcm;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function snrDb(ref: Int16Array, x: Int16Array): number {
  let s = 0;
  let n = 0;
  for (let i = 0; i < ref.length; i++) {
    s += ref[i]! * ref[i]!;
    n += (ref[i]! - x[i]!) ** 2;
  }
  return 10 * Math.log10((s + 1) / (n + 1));
}

function rms(x: Int16Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]! * x[i]!;
  return Math.sqrt(s / Math.max(1, x.length));
}

test("native Opus: a single lost packet recovered with FEC from the next packet is closer to the lossless decode than PLC", { skip: skip || (!hasEspeak() && "espeak-ng missing") }, async () => {
  const pcm = await speech48k();
  const frames = Math.floor(pcm.length / FRAME);
  // What a sender with FEC on and 10 % expected loss sends (the defaults).
  const enc = createOpusEncoder({ bitrate: 32000, fec: true }, OpusBackend.Native);
  // The decoder's output lags the input by the encoder's look-ahead.
  const delay = (enc as NativeOpusEncoder).get(4027 /* OPUS_GET_LOOKAHEAD */);
  const original = (f: number) => {
    const x = new Int16Array(FRAME);
    const start = f * FRAME - delay;
    x.set(pcm.subarray(Math.max(0, start), start + FRAME), Math.max(0, -start));
    return x;
  };
  const packets = Array.from({ length: frames }, (_, f) => enc.encode(pcm.subarray(f * FRAME, (f + 1) * FRAME)));
  enc.close();

  // The reference: the same packets decoded without loss (same codec delay and coding noise).
  const clean = createOpusDecoder(OpusBackend.Native);
  const ref = packets.map((p) => clean.decode(p));
  clean.close();

  // Drop single packets: every 7th one with speech in it (skip silence, where any
  // concealment is "right"), never two in a row.
  const lost = new Set<number>();
  for (let f = 10; f < frames - 1; f += 7) if (rms(ref[f]!) > 300) lost.add(f);
  assert.ok(lost.size >= 15, `enough voiced losses: ${lost.size}`);

  const withFec = createOpusDecoder(OpusBackend.Native);
  const withPlc = createOpusDecoder(OpusBackend.Native);
  let recovered = 0;
  const fecSnr: number[] = [];
  const plcSnr: number[] = [];
  const fecOrigSnr: number[] = [];
  const plcOrigSnr: number[] = [];
  const cleanOrigSnr = [...lost].map((f) => snrDb(original(f), ref[f]!));
  const fecOut: Int16Array[] = [];
  const plcOut: Int16Array[] = [];
  for (let f = 0; f < frames; f++) {
    if (lost.has(f)) {
      const rec = withFec.decodeFec!(packets[f + 1]!, FRAME);
      if (rec) recovered++;
      const a = rec ?? withFec.conceal(FRAME);
      const b = withPlc.conceal(FRAME);
      assert.equal(a.length, FRAME);
      assert.equal(b.length, FRAME);
      fecSnr.push(snrDb(ref[f]!, a));
      plcSnr.push(snrDb(ref[f]!, b));
      fecOrigSnr.push(snrDb(original(f), a));
      plcOrigSnr.push(snrDb(original(f), b));
      fecOut.push(a);
      plcOut.push(b);
    } else {
      fecOut.push(withFec.decode(packets[f]!));
      plcOut.push(withPlc.decode(packets[f]!));
    }
  }
  withFec.close();
  withPlc.close();
  const mean = (x: number[]) => x.reduce((s, v) => s + v, 0) / x.length;
  const concat = (xs: Int16Array[]) => {
    const out = new Int16Array(xs.reduce((s, x) => s + x.length, 0));
    let o = 0;
    for (const x of xs) {
      out.set(x, o);
      o += x.length;
    }
    return out;
  };
  const whole = concat(ref);
  const fecWhole = snrDb(whole, concat(fecOut));
  const plcWhole = snrDb(whole, concat(plcOut));
  const better = fecSnr.filter((s, i) => s > plcSnr[i]!).length;
  console.log(
    `# FEC vs PLC on ${lost.size} single lost 20 ms frames of espeak speech (32 kbit/s, FEC on, 10 % expected loss): ` +
      `recovered by FEC ${recovered}/${lost.size}; SNR of the lost frames against the lossless decode: ` +
      `FEC ${mean(fecSnr).toFixed(1)} dB, PLC ${mean(plcSnr).toFixed(1)} dB (FEC better in ${better}/${lost.size} frames); ` +
      `against the original (delay ${delay} samples): FEC ${mean(fecOrigSnr).toFixed(1)} dB, PLC ${mean(plcOrigSnr).toFixed(1)} dB, ` +
      `lossless decode ${mean(cleanOrigSnr).toFixed(1)} dB; ` +
      `whole signal: FEC ${fecWhole.toFixed(1)} dB, PLC ${plcWhole.toFixed(1)} dB`,
  );
  assert.ok(recovered >= 0.8 * lost.size, `FEC data present for most losses: ${recovered}/${lost.size}`);
  assert.ok(mean(fecSnr) > mean(plcSnr) + 3, `FEC ${mean(fecSnr).toFixed(1)} dB vs PLC ${mean(plcSnr).toFixed(1)} dB`);
  assert.ok(mean(fecOrigSnr) > mean(plcOrigSnr) + 2, `against the original: FEC ${mean(fecOrigSnr).toFixed(1)} dB vs PLC ${mean(plcOrigSnr).toFixed(1)} dB`);
  assert.ok(better >= 0.8 * lost.size, `FEC better in ${better}/${lost.size} lost frames`);
  assert.ok(fecWhole > plcWhole, `whole signal: FEC ${fecWhole} dB vs PLC ${plcWhole} dB`);
});

test("native Opus: LBRR (FEC data) is found only when the encoder sends it", { skip: skip || (!hasEspeak() && "espeak-ng missing") }, async () => {
  const pcm = await speech48k();
  const count = (fec: boolean) => {
    const enc = createOpusEncoder({ fec }, OpusBackend.Native);
    let withLbrr = 0;
    let total = 0;
    for (let f = 0; (f + 1) * FRAME <= pcm.length; f++) {
      const p = enc.encode(pcm.subarray(f * FRAME, (f + 1) * FRAME));
      total++;
      if (NativeOpusDecoder.hasFec(p)) withLbrr++;
    }
    enc.close();
    return { withLbrr, total };
  };
  const on = count(true);
  const off = count(false);
  console.log(`# packets with LBRR: FEC on ${on.withLbrr}/${on.total}, FEC off ${off.withLbrr}/${off.total}`);
  assert.equal(off.withLbrr, 0);
  assert.ok(on.withLbrr > on.total / 3, `FEC on: ${on.withLbrr}/${on.total}`);
  // A CELT-only packet (music mode at a high rate) never carries LBRR; decodeFec then declines.
  const dec = createOpusDecoder(OpusBackend.Native);
  const celtToc = Buffer.from([(31 << 3) | 0, 0xff, 0x00, 0x11]);
  assert.equal(NativeOpusDecoder.hasFec(celtToc), false);
  assert.equal(dec.decodeFec!(celtToc, FRAME), undefined);
  dec.close();
});

test("native and wasm Opus: the same settings reach libopus (CTLs) and give the same bit rates", { skip }, () => {
  const speech = new Int16Array(48000 * 3);
  for (let i = 0; i < speech.length; i++) speech[i] = Math.round(5000 * Math.sin(i / 7) * Math.sin(i / 5000) + 2000 * Math.sin(i / 3));
  const cases = [
    { bitrate: 16000, complexity: 5, fec: true, dtx: false },
    { bitrate: 32000, complexity: 9, fec: false, dtx: true },
    { bitrate: 48000, complexity: 10, fec: true, dtx: false },
  ];
  for (const opts of cases) {
    const native = createOpusEncoder(opts, OpusBackend.Native) as NativeOpusEncoder;
    assert.equal(native.get(OpusCtl.GetBitrate), opts.bitrate);
    assert.equal(native.get(OpusCtl.GetComplexity), opts.complexity);
    assert.equal(native.get(OpusCtl.GetInbandFec), opts.fec ? 1 : 0);
    assert.equal(native.get(OpusCtl.GetPacketLossPerc), opts.fec ? 10 : 0);
    assert.equal(native.get(OpusCtl.GetDtx), opts.dtx ? 1 : 0);
    const wasm = createOpusEncoder(opts, OpusBackend.Wasm);
    let nb = 0;
    let wb = 0;
    for (let f = 0; (f + 1) * FRAME <= speech.length; f++) {
      const x = speech.subarray(f * FRAME, (f + 1) * FRAME);
      nb += native.encode(x).length;
      wb += wasm.encode(x).length;
    }
    native.close();
    wasm.close();
    console.log(`# ${JSON.stringify(opts)}: native ${nb} bytes, wasm ${wb} bytes`);
    assert.ok(Math.abs(nb - wb) / wb < 0.1, `${JSON.stringify(opts)}: native ${nb} vs wasm ${wb} bytes`);
  }
});

/** How many opusscript encoder + decoder pairs fit (in a child process: running out breaks its WASM heap). */
function wasmPairLimit(): string {
  const codecs = new URL("../../src/media/codecs/index.js", import.meta.url).href;
  const script = `const m = await import(${JSON.stringify(codecs)}); let n = 0;
    try { for (; n < 100; n++) { const e = m.createOpusEncoder({}, "wasm"); m.createOpusDecoder("wasm"); e.encode(new Int16Array(960)); } } catch {}
    process.stdout.write(String(n));`;
  try {
    return execFileSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 30000 });
  } catch (err) {
    return `unknown (${(err as Error).message.split("\n")[0]})`;
  }
}

test("native Opus: 60 encoder + decoder pairs coexist and all work (opusscript's heap holds about 40)", { skip }, () => {
  const pairs = Array.from({ length: 60 }, () => ({ enc: createOpusEncoder({}, OpusBackend.Native), dec: createOpusDecoder(OpusBackend.Native) }));
  try {
    const x = new Int16Array(FRAME);
    for (let f = 0; f < 5; f++) {
      for (let i = 0; i < FRAME; i++) x[i] = Math.round(8000 * Math.sin(((f * FRAME + i) * 2 * Math.PI * 440) / 48000));
      for (const { enc, dec } of pairs) assert.equal(dec.decode(enc.encode(x)).length, FRAME);
    }
    for (const { dec } of pairs) assert.ok(rms(dec.conceal(FRAME)) > 100, "each decoder conceals from its own state");
    console.log(`# 60 native pairs encoded, decoded and concealed; opusscript pairs that fit in one process: ${wasmPairLimit()}`);
  } finally {
    for (const { enc, dec } of pairs) {
      enc.close();
      dec.close();
    }
  }
});

test("opus addon: bad arguments become exceptions with libopus's text; nothing is read or written out of bounds", { skip }, () => {
  const r = loadOpusAddon();
  assert.ok("addon" in r);
  const a = r.addon;
  assert.match(a.version(), /^libopus /);
  const enc = a.encoderCreate(48000, 1, 2048);
  const dec = a.decoderCreate(48000, 1);
  try {
    assert.throws(() => a.encoderCreate(44100, 1, 2048), /invalid argument/);
    assert.throws(() => a.encoderCtl(enc, OpusCtl.SetBitrate, -5), /invalid argument/);
    assert.throws(() => a.encoderCtl(enc, OpusCtl.GetBitrate, 1), /unsupported/, "a GET request where a SET is expected");
    assert.throws(() => a.encoderGet(enc, 4031), /unsupported/, "not whitelisted");
    assert.throws(() => a.encode(dec, new Int16Array(960), 960, Buffer.alloc(100)), /not an Opus encoder/);
    assert.throws(() => a.encode(enc, new Int16Array(959), 960, Buffer.alloc(100)), /fewer than frameSize/);
    assert.throws(() => a.encode(enc, new Int16Array(960), 960, Buffer.alloc(0)), /empty/);
    assert.throws(() => a.encode(enc, new Int16Array(960), 961, Buffer.alloc(100)), /frameSize|fewer/);
    assert.throws(() => a.encode(enc, new Int16Array(1000), 1000, Buffer.alloc(100)), /invalid argument/, "not an Opus frame size");
    assert.throws(() => a.encode(enc, new Uint16Array(960) as unknown as Int16Array, 960, Buffer.alloc(100)), /Int16Array/);
    // Three bytes of room: libopus makes do (a shorter packet), never writes past them.
    const guard = Buffer.alloc(16, 0xaa);
    const noisy = new Int16Array(960).map((_, i) => Math.round(10000 * Math.sin(i * 0.37)));
    assert.ok(a.encode(enc, noisy, 960, guard.subarray(0, 3)) <= 3);
    assert.ok(guard.subarray(3).every((b) => b === 0xaa));
    // A 20 ms packet decoded into room for 10 ms: refused by libopus, out left alone.
    const small = new Int16Array(600).fill(7);
    const full = Buffer.alloc(4000);
    const len = a.encode(enc, noisy, 960, full);
    assert.throws(() => a.decode(dec, full.subarray(0, len), small.subarray(0, 480), 480, false), /buffer too small/);
    assert.ok(small.subarray(480).every((v) => v === 7));
    assert.throws(() => a.decode(dec, null, new Int16Array(959), 960, false), /fewer than frameSize/);
    assert.throws(() => a.decode(dec, Buffer.from([0xfb, 0x00, 0x01]), new Int16Array(960), 960, false), /corrupted stream|invalid packet/);
    assert.throws(() => a.decode(dec, null, new Int16Array(1000), 1000, false), /invalid argument/, "PLC in whole 2.5 ms units");
    assert.equal(a.decode(dec, null, new Int16Array(960), 960, false), 960);
    const err = (() => {
      try {
        a.encoderCtl(enc, OpusCtl.SetBitrate, -5);
      } catch (e) {
        return e as Error & { code?: string };
      }
      return undefined;
    })();
    assert.equal(err?.code, "-1", "the libopus error number is the code");
  } finally {
    a.encoderDestroy(enc);
    a.decoderDestroy(dec);
  }
  assert.throws(() => a.encode(enc, new Int16Array(960), 960, Buffer.alloc(100)), /destroyed/);
  assert.throws(() => a.decode(dec, null, new Int16Array(960), 960, false), /destroyed/);
  a.encoderDestroy(enc); // twice is harmless
});

test("native Opus decoder: PLC of any length continues the signal; a TOC-only packet conceals its duration", { skip }, () => {
  const enc = createOpusEncoder({}, OpusBackend.Native);
  const dec = createOpusDecoder(OpusBackend.Native);
  try {
    assert.equal(dec.conceal(960).length, 960, "before any packet");
    for (let f = 0; f < 20; f++) {
      const x = new Int16Array(FRAME).map((_, i) => Math.round(6000 * Math.sin(((f * FRAME + i) * 2 * Math.PI * 440) / 48000)));
      dec.decode(enc.encode(x));
    }
    assert.ok(rms(dec.conceal(960)) > 1000, "concealment continues the tone");
    for (const n of [960, 480, 120, 1, 959, 2880, 1920, 5000, 7000]) assert.equal(dec.conceal(n).length, n, `conceal(${n})`);
    assert.equal(dec.decode(Buffer.alloc(0)).length, 960);
    assert.equal(dec.decode(Buffer.of(1 << 3)).length, 960, "SILK NB 20 ms TOC only");
    assert.equal(dec.decode(Buffer.from([0xfb, 0x00, 0x01])).length, 960, "corrupt: concealed");
    assert.equal((dec as NativeOpusDecoder).corruptPackets, 1);
  } finally {
    enc.close();
    dec.close();
  }
  assert.throws(() => dec.decode(Buffer.alloc(10)), /closed/);
});

test("Opus backend selection: auto, wasm, native; the daemon's start check refuses native when it is not built", () => {
  assert.equal(resolveOpusBackend(OpusBackendChoice.Wasm), OpusBackend.Wasm);
  assert.equal(resolveOpusBackend(OpusBackendChoice.Auto), problem ? OpusBackend.Wasm : OpusBackend.Native);
  const base = { account: { jid: "a@example.org", password: "x" } };
  // Validating a config selects nothing (the daemon does, at start and on reload).
  const before = opusBackend();
  validateConfig({ ...base, media: { opus: { backend: before === OpusBackend.Wasm ? "native" : "wasm" } } });
  assert.equal(opusBackend(), before);
  selectOpusBackend(OpusBackendChoice.Wasm);
  assert.equal(opusBackend(), OpusBackend.Wasm);
  assert.equal(createOpusDecoder().backend, "wasm");
  // Validation takes "native" either way (it loads no native code); the start check knows whether it is built.
  const nativeCfg = validateConfig({ ...base, media: { opus: { backend: "native" } } });
  assert.equal(nativeCfg.media.opus.backend, "native");
  if (problem) {
    assert.throws(() => selectOpusBackend(OpusBackendChoice.Native), /not available/);
    assert.throws(
      () => checkRuntime(nativeCfg),
      (e: unknown) => e instanceof ConfigError && /media\.opus\.backend: .*native Opus backend is not available/.test(e.message),
    );
  } else {
    checkRuntime(nativeCfg);
    const cfg = nativeCfg;
    selectOpusBackend(cfg.media.opus.backend);
    assert.equal(opusBackend(), OpusBackend.Native);
    assert.equal(createOpusDecoder().backend, "native");
  }
  assert.throws(() => validateConfig({ ...base, media: { opus: { backend: "fast" } } }), /media\.opus\.backend/);
  const cfg = validateConfig(base);
  assert.equal(cfg.media.opus.backend, "auto");
  selectOpusBackend(cfg.media.opus.backend);
  assert.equal(opusBackend(), problem ? OpusBackend.Wasm : OpusBackend.Native);
});
