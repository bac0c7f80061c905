// Opus (RFC 6716) facts shared by both backends: constants, CTL numbers, and
// what the TOC byte says about a packet.
import { JingledError } from "../../util/errors.js";

export const OPUS_RATE = 48000;

/** libopus CTL request numbers (opus_defines.h). */
export const OpusCtl = {
  SetBitrate: 4002,
  GetBitrate: 4003,
  SetComplexity: 4010,
  GetComplexity: 4011,
  SetInbandFec: 4012,
  GetInbandFec: 4013,
  SetPacketLossPerc: 4014,
  GetPacketLossPerc: 4015,
  SetDtx: 4016,
  GetDtx: 4017,
} as const;

/** OPUS_APPLICATION_VOIP (opus_defines.h). */
export const OPUS_APPLICATION_VOIP = 2048;

/** Frame durations Opus can encode (RFC 6716 §2.1.4), in ms. */
export const VALID_PTIME_MS = [2.5, 5, 10, 20, 40, 60] as const;
/** Loss we tell the encoder to expect: with 0 % it spends no bits on FEC. */
export const EXPECTED_LOSS_PERCENT = 10;

/** Samples per frame at 48 kHz for a ptime; throws for one Opus cannot encode. */
export function opusFrameSamples(ptimeMs: number): number {
  if (!(VALID_PTIME_MS as readonly number[]).includes(ptimeMs)) {
    throw new JingledError("codec-config", `Opus cannot use ${ptimeMs} ms frames (valid: ${VALID_PTIME_MS.join(", ")})`);
  }
  return (ptimeMs * OPUS_RATE) / 1000;
}

/** The CTL settings (request, value) that EncoderOptions mean, the same for every backend. */
export function encoderCtls(opts: { bitrate?: number; complexity?: number; fec?: boolean; dtx?: boolean }): [number, number][] {
  const fec = opts.fec ?? true;
  const ctls: [number, number][] = [[OpusCtl.SetBitrate, opts.bitrate ?? 32000]];
  if (opts.complexity !== undefined) ctls.push([OpusCtl.SetComplexity, opts.complexity]);
  ctls.push([OpusCtl.SetInbandFec, fec ? 1 : 0], [OpusCtl.SetPacketLossPerc, fec ? EXPECTED_LOSS_PERCENT : 0], [OpusCtl.SetDtx, opts.dtx ? 1 : 0]);
  return ctls;
}

/** TOC byte: config (5 bits) | stereo (1) | frame-count code (2) — RFC 6716 §3.1. */
export const TOC_STEREO = 0x04;
/** Default when nothing was received yet: CELT-only fullband 20 ms, mono. */
export const DEFAULT_TOC = 31 << 3;

/** Samples at 48 kHz of each config's frame, per mode (RFC 6716 §3.1, Table 2). */
export function frameSamplesOfConfig(config: number): number {
  if (config < 12) return [480, 960, 1920, 2880][config & 3]!; // SILK-only: 10/20/40/60 ms
  if (config < 16) return [480, 960][config & 1]!; // Hybrid: 10/20 ms
  return [120, 240, 480, 960][config & 3]!; // CELT-only: 2.5/5/10/20 ms
}

/** The configs of the same mode and bandwidth as `config`, with their frame sizes, largest first. */
export function sameModeConfigs(config: number): { config: number; samples: number }[] {
  const group = config < 12 ? config & ~3 : config < 16 ? config & ~1 : config & ~3;
  const count = config >= 12 && config < 16 ? 2 : 4;
  const list = [];
  for (let c = group; c < group + count; c++) list.push({ config: c, samples: frameSamplesOfConfig(c) });
  return list.sort((a, b) => b.samples - a.samples);
}

/**
 * Samples (48 kHz) in one Opus packet: frames x frame size, from the TOC byte
 * and, for code 3, the frame count byte (RFC 6716 §3.1, §3.2.5).
 */
export function opusPacketSamples(payload: Buffer): number | undefined {
  if (payload.length < 1) return undefined;
  const toc = payload[0]!;
  const size = frameSamplesOfConfig(toc >> 3);
  const code = toc & 3;
  if (code === 0) return size;
  if (code === 1 || code === 2) return 2 * size;
  if (payload.length < 2) return undefined;
  const frames = payload[1]! & 0x3f;
  // §3.2.5: at most 120 ms per packet.
  return frames > 0 && frames * size <= 5760 ? frames * size : undefined;
}
