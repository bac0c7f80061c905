// The send path without per-frame copies: a WAV file's frames reach the
// encoder as views, packets carry exactly the source's samples in order
// (looping, 20 and 40 ms packets, mute), and the packetizer writes the same
// bytes as werift-rtp's serializer.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import alawmulaw from "alawmulaw";
import { RtpHeader, RtpPacket } from "werift-rtp";
import { pcmuCodec } from "../../src/media/codecs/pcmu.js";
import { SendPath } from "../../src/media/send-path.js";
import { WavFileSource } from "../../src/media/sources/wav-file-source.js";
import { readWavMono, writeWavFile } from "../../src/media/wav.js";
import { RtpPacketizer, parseRtp } from "../../src/rtp/rtp-packet.js";
import { prng } from "../../scripts/lab/audio-compare.js";

function withWav(samples: Int16Array, fn: (path: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "jingled-sendpath-"));
  try {
    const path = join(dir, "src.wav");
    writeWavFile(path, samples, 8000);
    fn(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** 8 kHz samples that survive µ-law unchanged, so payloads can be compared exactly. */
function mulawExact(n: number, seed: number): Int16Array {
  const rnd = prng(seed);
  return alawmulaw.mulaw.decode(Uint8Array.from({ length: n }, () => Math.floor(rnd() * 256)));
}

for (const ptimeMs of [20, 40]) {
  test(`PCMU ${ptimeMs} ms packets carry the looped file's samples in order, and mute sends silence`, () => {
    const file = mulawExact(1000, ptimeMs); // not a multiple of the frame: every read crosses the loop differently
    withWav(file, (path) => {
      const source = new WavFileSource(path, 8000, { loop: true });
      const send = new SendPath({ codec: pcmuCodec, payloadType: 0, source, ptimeMs, ssrc: 42 });
      const got: number[] = [];
      for (let tick = 0; tick < 40; tick++) {
        for (const p of send.tick()) got.push(...alawmulaw.mulaw.decode(parseRtp(p)!.payload));
      }
      const want = Array.from({ length: 40 * 160 }, (_, i) => file[i % file.length]!);
      assert.deepEqual(got, want);
      send.muted = true;
      const muted = [send.tick(), send.tick()].flat().flatMap((p) => [...alawmulaw.mulaw.decode(parseRtp(p)!.payload)]);
      assert.equal(muted.length, 320);
      assert.ok(muted.every((v) => v === 0));
      send.close();
    });
  });
}

test("file source: frames inside the file are views that later reads leave intact", () => {
  const file = Int16Array.from({ length: 500 }, (_, i) => i);
  withWav(file, (path) => {
    const src = new WavFileSource(path, 8000, { loop: true });
    const frames = Array.from({ length: 8 }, () => src.read(160));
    assert.deepEqual(
      frames.flatMap((f) => [...f]),
      Array.from({ length: 8 * 160 }, (_, i) => i % 500),
    );
  });
});

test("packetizer: the same bytes as werift-rtp's RtpPacket for any header fields", () => {
  const rnd = prng(11);
  for (let i = 0; i < 200; i++) {
    const seq = Math.floor(rnd() * 65536);
    const ts = Math.floor(rnd() * 2 ** 32);
    const ssrc = Math.floor(rnd() * 2 ** 32);
    const pt = Math.floor(rnd() * 128);
    const marker = rnd() < 0.5;
    const payload = Buffer.from(Array.from({ length: Math.floor(rnd() * 300) }, () => Math.floor(rnd() * 256)));
    const z = new RtpPacketizer({ payloadType: pt, clockRate: 48000, ssrc, initialSeq: seq, initialTimestamp: ts });
    const want = new RtpPacket(new RtpHeader({ payloadType: pt, marker, sequenceNumber: seq, timestamp: ts, ssrc }), payload).serialize();
    assert.equal(z.packetize(payload, 960, { marker }).toString("hex"), want.toString("hex"));
  }
});

test("file source: a 16-bit mono file at the call's rate loads as readWavMono decodes it; other formats too; a rewritten file is reloaded", () => {
  const dir = mkdtempSync(join(tmpdir(), "jingled-wavload-"));
  try {
    const rnd = prng(21);
    const samples = Int16Array.from({ length: 4801 }, () => Math.floor(rnd() * 65536) - 32768);
    const mono = join(dir, "mono.wav");
    writeWavFile(mono, samples, 48000);
    const direct = new WavFileSource(mono, 48000, { loop: true });
    assert.deepEqual([...direct.read(4801)], [...readWavMono(readFileSync(mono), 48000)]);
    assert.deepEqual([...new WavFileSource(mono, 48000).read(10)], [...samples.subarray(0, 10)]);
    // Stereo and another rate go through the general decoder.
    const stereo = join(dir, "stereo.wav");
    writeWavFile(stereo, samples.subarray(0, 4800), 8000, 2);
    assert.deepEqual([...new WavFileSource(stereo, 8000).read(2400)], [...readWavMono(readFileSync(stereo), 8000)]);
    assert.deepEqual([...new WavFileSource(mono, 8000).read(800)], [...readWavMono(readFileSync(mono), 8000).subarray(0, 800)]);
    // Rewritten while a source of the old content still lives: the next source plays the new file.
    writeWavFile(mono, Int16Array.from([7, 8, 9]), 48000);
    assert.deepEqual([...new WavFileSource(mono, 48000).read(3)], [7, 8, 9]);
    assert.equal(direct.read(1)[0], samples[0]); // the old (looping) source keeps its audio
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
