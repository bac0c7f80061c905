import { test } from "node:test";
import assert from "node:assert/strict";
import { PlayoutBuffer, PushResult } from "../../src/media/playout-buffer.js";
import type { PlayoutBufferOptions, PlayoutStats } from "../../src/media/playout-buffer.js";

/**
 * A scripted arrival pattern: for each 20 ms tick, the sequence numbers that
 * arrive, then one pop(). Pops are written "-" (empty), "L7" (7 lost) or "7"
 * (packet 7).
 */
interface Case {
  name: string;
  opts?: PlayoutBufferOptions;
  ticks: number[][];
  /** ticks to run after the script, popping only */
  drain?: number;
  expect: string[];
  stats?: Partial<PlayoutStats>;
  pushes?: PushResult[];
}

function run(c: Case): { pops: string[]; stats: PlayoutStats; pushes: PushResult[] } {
  const pb = new PlayoutBuffer(c.opts);
  const pops: string[] = [];
  const pushes: PushResult[] = [];
  const ticks = [...c.ticks, ...Array.from({ length: c.drain ?? 0 }, () => [])];
  ticks.forEach((arrivals, t) => {
    for (const seq of arrivals) {
      const payload = Buffer.from([seq & 0xff]);
      pushes.push(pb.push({ seq, timestamp: (seq * 960) >>> 0, payload, arrivalMs: t * 20 }));
    }
    const out = pb.pop();
    if (out.kind === "packet") {
      assert.equal(out.payload[0], out.seq & 0xff, "payload belongs to the packet");
      assert.equal(out.timestamp, (out.seq * 960) >>> 0);
    }
    pops.push(out.kind === "empty" ? "-" : out.kind === "lost" ? `L${out.seq}` : String(out.seq));
  });
  return { pops, stats: pb.stats, pushes };
}

const seqs = (from: number, n: number) => Array.from({ length: n }, (_, i) => [(from + i) & 0xffff]);

const cases: Case[] = [
  {
    name: "in order: first data after the target delay (2 frames), then one per tick, then empty",
    ticks: seqs(0, 5),
    drain: 2,
    expect: ["-", "0", "1", "2", "3", "4", "-"],
    stats: { received: 5, played: 5, lost: 0, late: 0, duplicate: 0, reordered: 0, underruns: 1 },
  },
  {
    name: "target delay of 4 frames",
    opts: { targetFrames: 4 },
    ticks: seqs(10, 6),
    drain: 3,
    expect: ["-", "-", "-", "10", "11", "12", "13", "14", "15"],
    stats: { played: 6, lost: 0 },
  },
  {
    name: "reordered by one: played in order, nothing lost",
    ticks: [[0], [1], [3], [2], [4], [5]],
    drain: 1,
    expect: ["-", "0", "1", "2", "3", "4", "5"],
    stats: { reordered: 1, lost: 0, played: 6 },
  },
  {
    name: "reordered first packets: playing starts at the lowest",
    ticks: [[1], [0], [2]],
    drain: 1,
    expect: ["-", "0", "1", "2"],
    stats: { reordered: 1, lost: 0 },
  },
  {
    name: "a lost packet gives exactly one lost",
    ticks: [[0], [1], [2], [], [4], [5], [6]],
    drain: 1,
    expect: ["-", "0", "1", "2", "L3", "4", "5", "6"],
    stats: { lost: 1, played: 6, underruns: 0 },
  },
  {
    name: "duplicates of held and of played packets are dropped and counted",
    ticks: [[0], [1], [1, 2], [2], [3, 0]],
    drain: 1,
    expect: ["-", "0", "1", "2", "3", "-"],
    stats: { duplicate: 3, late: 0, played: 4 },
    pushes: ["queued", "queued", "duplicate", "queued", "duplicate", "queued", "duplicate"],
  },
  {
    name: "late packet (its turn was concealed) is dropped and counted",
    ticks: [[0], [1], [2], [4], [5], [3], [6]],
    drain: 1,
    expect: ["-", "0", "1", "2", "L3", "4", "5", "6"],
    stats: { late: 1, lost: 1, played: 6 },
  },
  {
    name: "sequence wrap at 65535",
    ticks: [[65533], [65534], [65535], [0], [1], [2]],
    drain: 1,
    expect: ["-", "65533", "65534", "65535", "0", "1", "2"],
    stats: { lost: 0, played: 6, reordered: 0 },
  },
  {
    name: "reordered and lost across the wrap",
    ticks: [[65533], [65534], [0], [65535], [2], [3]],
    drain: 2,
    expect: ["-", "65533", "65534", "65535", "0", "L1", "2", "3"],
    stats: { reordered: 1, lost: 1 },
  },
  {
    name: "sender restart: a confirmed jump resyncs",
    ticks: [[1000], [1001], [1002], [1003], [40000], [40001], [40002], [40003]],
    drain: 1,
    expect: ["-", "1000", "1001", "1002", "1003", "40000", "40001", "40002", "40003"],
    stats: { resyncs: 1, lost: 0, late: 0, played: 8 },
  },
  {
    name: "sender restart to a lower sequence number",
    ticks: [[30000], [30001], [30002], [5], [6], [7]],
    drain: 1,
    expect: ["-", "30000", "30001", "30002", "5", "6", "7"],
    stats: { resyncs: 1, lost: 0, late: 0 },
  },
  {
    name: "a single stray far-off packet does not disturb the stream",
    ticks: [[0], [1], [2], [30000, 3], [4], [5]],
    drain: 1,
    expect: ["-", "0", "1", "2", "3", "4", "5"],
    stats: { resyncs: 0, lost: 0, played: 6 },
  },
  {
    name: "underrun: rebuffer; frames skipped meanwhile count as lost without delaying playout",
    ticks: [[0], [1], [], [], [], [5], [6], [7]],
    drain: 1,
    expect: ["-", "0", "1", "-", "-", "-", "5", "6", "7"],
    stats: { underruns: 1, lost: 3, played: 5 },
  },
  {
    name: "DTX pause: sequence numbers continue, nothing lost",
    ticks: [[0], [1], [], [], [], [2], [3], [4]],
    drain: 1,
    expect: ["-", "0", "1", "-", "-", "-", "2", "3", "4"],
    stats: { underruns: 1, lost: 0, played: 5 },
  },
  {
    name: "capacity: the oldest are dropped beyond it",
    opts: { capacity: 5 },
    ticks: [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]],
    drain: 5,
    expect: ["5", "6", "7", "8", "9", "-"],
    stats: { overflow: 5, played: 5, lost: 0 },
  },
  {
    name: "capacity while playing: skipped missing frames are lost, held ones overflow",
    opts: { capacity: 4 },
    ticks: [[0], [1], [3, 4, 5, 6, 7]],
    drain: 4,
    expect: ["-", "0", "4", "5", "6", "7", "-"],
    stats: { overflow: 2, lost: 1, played: 5 }, // 1 and 3 held but dropped, 2 never came
  },
];

for (const c of cases) {
  test(`playout: ${c.name}`, () => {
    const r = run(c);
    assert.deepEqual(r.pops, c.expect);
    for (const [k, v] of Object.entries(c.stats ?? {})) assert.equal(r.stats[k as keyof PlayoutStats], v, `stats.${k}`);
    if (c.pushes) assert.deepEqual(r.pushes, c.pushes);
  });
}

test("playout: push results name what happened", () => {
  const pb = new PlayoutBuffer();
  const p = (seq: number) => pb.push({ seq, timestamp: 0, payload: Buffer.alloc(1), arrivalMs: 0 });
  assert.equal(p(100), PushResult.Queued);
  assert.equal(p(100), PushResult.Duplicate);
  assert.equal(p(9000), PushResult.JumpPending);
  assert.equal(p(9001), PushResult.Resync);
  assert.equal(pb.state, "buffering");
  assert.equal(pb.depth, 2);
});

test("playout: targetFrames is a field an adaptive controller can change", () => {
  const pb = new PlayoutBuffer({ targetFrames: 2 });
  pb.targetFrames = 3;
  const pops: string[] = [];
  for (let seq = 0; seq < 4; seq++) {
    pb.push({ seq, timestamp: 0, payload: Buffer.alloc(1), arrivalMs: seq * 20 });
    pops.push(pb.pop().kind);
  }
  assert.deepEqual(pops, ["empty", "empty", "packet", "packet"]);
});

test("playout: reset forgets the stream, keeps the counters", () => {
  const pb = new PlayoutBuffer({ targetFrames: 1 });
  pb.push({ seq: 5, timestamp: 0, payload: Buffer.alloc(1), arrivalMs: 0 });
  assert.equal(pb.pop().kind, "packet");
  pb.reset();
  pb.push({ seq: 60000, timestamp: 0, payload: Buffer.alloc(1), arrivalMs: 0 });
  const out = pb.pop();
  assert.equal(out.kind, "packet");
  assert.equal(out.kind === "packet" && out.seq, 60000);
  assert.equal(pb.stats.played, 2);
});
