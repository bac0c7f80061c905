// The Prometheus text exposition format, version 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/): one
// `# HELP` and `# TYPE` line per family, then `name{label="value"} number`
// per sample. Pure: families in, text out.

export type MetricType = "counter" | "gauge" | "histogram";

export interface Sample {
  /** Appended to the family name: "_bucket", "_sum", "_count" for histograms. */
  suffix?: string;
  labels?: Record<string, string>;
  value: number;
}

export interface MetricFamily {
  name: string;
  help: string;
  type: MetricType;
  samples: Sample[];
}

export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

// HELP text escapes backslash and newline; label values also the double quote.
const escapeHelp = (s: string): string => s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
const escapeLabel = (s: string): string => escapeHelp(s).replace(/"/g, '\\"');

function number(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

export function renderFamilies(families: MetricFamily[]): string {
  const out: string[] = [];
  for (const f of families) {
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      const labels = Object.entries(s.labels ?? {});
      const text = labels.length ? `{${labels.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}` : "";
      out.push(`${f.name}${s.suffix ?? ""}${text} ${number(s.value)}`);
    }
  }
  return out.join("\n") + "\n";
}

/** A cumulative histogram (bucket counts include every smaller bucket, then +Inf, _sum and _count). */
export class Histogram {
  readonly #bounds: number[];
  readonly #counts: number[];
  #sum = 0;
  #count = 0;

  constructor(bounds: number[]) {
    this.#bounds = [...bounds].sort((a, b) => a - b);
    this.#counts = this.#bounds.map(() => 0);
  }

  observe(v: number): void {
    for (let i = 0; i < this.#bounds.length; i++) if (v <= this.#bounds[i]!) this.#counts[i]! += 1;
    this.#sum += v;
    this.#count += 1;
  }

  samples(): Sample[] {
    return [
      ...this.#bounds.map((b, i) => ({ suffix: "_bucket", labels: { le: number(b) }, value: this.#counts[i]! })),
      { suffix: "_bucket", labels: { le: "+Inf" }, value: this.#count },
      { suffix: "_sum", value: this.#sum },
      { suffix: "_count", value: this.#count },
    ];
  }
}
