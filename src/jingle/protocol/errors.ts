// Parse errors for the Jingle protocol layer, and the small checked readers
// that raise them. Every reader names the element and attribute at fault, so
// a bad-request reply (or a log line) tells the peer's developer what to fix.

import type { Element } from "ltx";
import { JingledError } from "../../util/errors.js";

/**
 * A Jingle element could not be turned into a typed object: missing or
 * malformed required attribute, unknown action, or a hostile-input bound hit.
 * The session layer answers it with `modify/bad-request` (XEP-0166 §7.2).
 */
export class JingleParseError extends JingledError {
  constructor(
    message: string,
    /** Name of the element at fault, e.g. "candidate". */
    readonly element: string,
    /** Attribute at fault, when one is. */
    readonly attribute?: string,
  ) {
    super("jingle-parse", message);
  }
}

/**
 * Bounds against hostile input. Real calls use 1 content, ~20 payload types,
 * ~10 candidates; these leave ample room while capping the work a single
 * stanza can cause.
 */
export const LIMITS = {
  contents: 16,
  payloadTypes: 64,
  candidates: 64,
  parameters: 64,
  /** rtcp-fb per payload type / header extensions per description. */
  listItems: 64,
  attributeLength: 1024,
} as const;

/** Throw unless `count` is within `max`. */
export function checkCount(count: number, max: number, what: string, parent: string): void {
  if (count > max) {
    throw new JingleParseError(`<${parent}> has ${count} <${what}> children; at most ${max} are accepted`, parent);
  }
}

/** An attribute's value, undefined when absent; rejects oversized values. */
export function optAttr(el: Element, name: string): string | undefined {
  const v = el.attrs[name];
  if (v === undefined || v === null) return undefined;
  const s = String(v);
  if (s.length > LIMITS.attributeLength) {
    throw new JingleParseError(
      `<${el.getName()}> attribute '${name}' is ${s.length} characters long; at most ${LIMITS.attributeLength} are accepted`,
      el.getName(),
      name,
    );
  }
  return s;
}

/** A required attribute; empty counts as missing. */
export function reqAttr(el: Element, name: string): string {
  const v = optAttr(el, name);
  if (v === undefined || v === "") {
    throw new JingleParseError(`<${el.getName()}> is missing required attribute '${name}'`, el.getName(), name);
  }
  return v;
}

// Decimal digits only: "1e3", "0x10", " 5" and "-1" are all refused, unlike
// Number(). 15 digits keeps every value a safe integer.
const UINT = /^[0-9]{1,15}$/;

/** An optional unsigned integer attribute within [min, max]. */
export function optUint(el: Element, name: string, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const s = optAttr(el, name);
  if (s === undefined) return undefined;
  if (!UINT.test(s)) {
    throw new JingleParseError(`<${el.getName()}> attribute '${name}' must be an unsigned integer, got '${s}'`, el.getName(), name);
  }
  const n = Number(s);
  if (n < min || n > max) {
    throw new JingleParseError(`<${el.getName()}> attribute '${name}' must be in ${min}..${max}, got ${n}`, el.getName(), name);
  }
  return n;
}

/** A required unsigned integer attribute within [min, max]. */
export function reqUint(el: Element, name: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  reqAttr(el, name);
  return optUint(el, name, min, max) as number;
}

/** An optional attribute that must be one of `allowed`. */
export function optEnum<T extends string>(el: Element, name: string, allowed: readonly T[]): T | undefined {
  const s = optAttr(el, name);
  if (s === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(s)) {
    throw new JingleParseError(
      `<${el.getName()}> attribute '${name}' must be one of ${allowed.join(", ")}, got '${s}'`,
      el.getName(),
      name,
    );
  }
  return s as T;
}

/** A required attribute that must be one of `allowed`. */
export function reqEnum<T extends string>(el: Element, name: string, allowed: readonly T[]): T {
  reqAttr(el, name);
  return optEnum(el, name, allowed) as T;
}

/** Child elements only (text nodes skipped), duck-typed: never `instanceof`. */
export function childElements(el: Element): Element[] {
  return el.children.filter((c): c is Element => typeof c === "object" && c !== null && typeof (c as Element).getName === "function");
}

/** True for anything that looks like an ltx Element (two ltx copies exist at runtime). */
export function isElementLike(x: unknown): x is Element {
  return (
    typeof x === "object" &&
    x !== null &&
    typeof (x as Element).getName === "function" &&
    typeof (x as Element).getNS === "function" &&
    Array.isArray((x as Element).children)
  );
}

/**
 * Walk the whole tree once (iteratively: deep nesting cannot blow the stack)
 * and reject any attribute value over the length bound, including on
 * elements this layer otherwise ignores.
 */
export function checkAttributeLengths(root: Element): void {
  const stack: Element[] = [root];
  while (stack.length > 0) {
    const el = stack.pop() as Element;
    for (const name of Object.keys(el.attrs)) optAttr(el, name);
    for (const c of el.children) if (isElementLike(c)) stack.push(c);
  }
}
