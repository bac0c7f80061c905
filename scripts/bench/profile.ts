// Reads a V8 CPU profile (`node --cpu-prof`, a .cpuprofile file) into a
// short report for the benchmarks (scripts/bench/bench.ts): self time by category
// (codec, SRTP/DTLS, jingled media, timers and sockets, GC, ...) and the
// functions with the most self time, located in the TypeScript sources
// through the build's source maps (dist/**.js.map) where they exist.
import { existsSync, readFileSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface ProfileSummary {
  /** profiled wall time, ms */
  durationMs: number;
  /** time not idle, ms */
  busyMs: number;
  /** self time per category, % of busy time */
  categories: Record<string, number>;
  top: { fn: string; where: string; category: string; selfMs: number; percent: number }[];
}

const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** Source map v3 lookup: generated (line, column), 0-based -> original "file:line" (1-based line). */
class SourceMap {
  readonly #lines: number[][][] = [];
  readonly #sources: string[];

  constructor(file: string) {
    const map = JSON.parse(readFileSync(file, "utf8")) as { sources: string[]; sourceRoot?: string; mappings: string };
    const dir = dirname(file);
    this.#sources = map.sources.map((s) => resolve(dir, map.sourceRoot ?? "", s));
    let src = 0;
    let line = 0;
    let col = 0;
    for (const group of map.mappings.split(";")) {
      const segs: number[][] = [];
      let gcol = 0;
      for (const seg of group.split(",")) {
        if (!seg) continue;
        const v = decodeVlq(seg);
        gcol += v[0]!;
        if (v.length >= 4) {
          src += v[1]!;
          line += v[2]!;
          col += v[3]!;
          segs.push([gcol, src, line, col]);
        }
      }
      this.#lines.push(segs);
    }
  }

  lookup(line: number, column: number): { source: string; line: number } | undefined {
    const segs = this.#lines[line];
    if (!segs || segs.length === 0) return undefined;
    let best = segs[0]!;
    for (const s of segs) if (s[0]! <= column) best = s;
    return { source: this.#sources[best[1]!]!, line: best[2]! + 1 };
  }
}

function decodeVlq(s: string): number[] {
  const out: number[] = [];
  let value = 0;
  let shift = 0;
  for (const ch of s) {
    const digit = BASE64.indexOf(ch);
    value += (digit & 31) << shift;
    if (digit & 32) shift += 5;
    else {
      out.push(value & 1 ? -(value >>> 1) : value >>> 1);
      value = 0;
      shift = 0;
    }
  }
  return out;
}

function categorize(f: CallFrame): string {
  const u = f.url;
  if (f.functionName === "(garbage collector)") return "gc";
  if (f.functionName === "(program)") return "v8/native (program)";
  if (f.functionName === "(idle)") return "idle";
  if (u.startsWith("wasm://") || u.includes("opusscript")) return "codec: opus (wasm)";
  if (u.includes("alawmulaw")) return "codec: g711";
  if (u.includes("/dist/src/media/codecs/")) return "codec: glue";
  if (/werift-(rtp|dtls)/.test(u)) return "srtp/dtls (werift)";
  if (u.includes("werift-ice")) return "ice (werift)";
  if (u.includes("/dist/src/media/")) return "jingled media";
  if (u.includes("/dist/src/rtp/")) return "jingled rtp";
  if (u.includes("/dist/src/")) return "jingled other";
  if (u.includes("pino") || u.includes("sonic-boom") || u.includes("thread-stream")) return "logging";
  if (u.includes("@xmpp") || u.includes("ltx")) return "xmpp";
  if (u.startsWith("node:internal/crypto")) return "srtp/dtls crypto (node:crypto)";
  if (u.startsWith("node:internal/modules") || u.includes("cjs-module-lexer") || f.functionName === "compileSourceTextModule") return "startup (module loading)";
  if (u.startsWith("node:")) return /dgram|udp|net|stream|buffer/.test(u) ? "node: sockets/buffers" : /timers/.test(u) ? "node: timers" : "node: other";
  if (u === "") return "v8/native";
  if (u.includes("node_modules")) return "other dependencies";
  return "other";
}

export function summarizeCpuProfile(file: string, repoRoot: string, topN = 20): ProfileSummary {
  const p = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  const self = new Map<number, number>(); // node id -> µs
  for (let i = 0; i < samples.length; i++) {
    const dt = deltas[i + 1] ?? 0;
    self.set(samples[i]!, (self.get(samples[i]!) ?? 0) + Math.max(0, dt));
  }
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const maps = new Map<string, SourceMap | undefined>();
  const locate = (f: CallFrame): string => {
    if (!f.url.startsWith("file://")) return f.url || "(native)";
    const js = fileURLToPath(f.url);
    if (!maps.has(js)) maps.set(js, existsSync(`${js}.map`) ? new SourceMap(`${js}.map`) : undefined);
    const hit = maps.get(js)?.lookup(f.lineNumber, f.columnNumber);
    return hit ? `${relative(repoRoot, hit.source)}:${hit.line}` : `${relative(repoRoot, js)}:${f.lineNumber + 1}`;
  };
  const cats = new Map<string, number>();
  const fns = new Map<string, { fn: string; where: string; category: string; us: number }>();
  let idle = 0;
  let total = 0;
  for (const [id, us] of self) {
    const f = byId.get(id)!.callFrame;
    const cat = categorize(f);
    total += us;
    if (cat === "idle") {
      idle += us;
      continue;
    }
    cats.set(cat, (cats.get(cat) ?? 0) + us);
    const where = locate(f);
    const key = `${f.functionName}@${where}`;
    const e = fns.get(key) ?? { fn: f.functionName || "(anonymous)", where, category: cat, us: 0 };
    e.us += us;
    fns.set(key, e);
  }
  const busy = total - idle;
  const pct = (us: number): number => Math.round((1000 * us) / (busy || 1)) / 10;
  return {
    durationMs: Math.round((p.endTime - p.startTime) / 1000),
    busyMs: Math.round(busy / 1000),
    categories: Object.fromEntries([...cats].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, pct(v)])),
    top: [...fns.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, topN)
      .map((e) => ({ fn: e.fn, where: e.where, category: e.category, selfMs: Math.round(e.us / 1000), percent: pct(e.us) })),
  };
}
