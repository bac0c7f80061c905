// A typed event emitter: `TypedEmitter<{ ended: [reason: string] }>` gives
// checked `on("ended", (reason) => …)` and `emit("ended", "success")`.
import { EventEmitter } from "node:events";

export type EventMap = { [event: string]: unknown[] };

export class TypedEmitter<E extends EventMap> {
  readonly #ee = new EventEmitter();

  constructor() {
    // A call has a handful of listeners; a leak warning here means a real leak.
    this.#ee.setMaxListeners(50);
  }

  on<K extends keyof E & string>(event: K, fn: (...args: E[K]) => void): () => void {
    this.#ee.on(event, fn as (...args: unknown[]) => void);
    return () => this.#ee.off(event, fn as (...args: unknown[]) => void);
  }

  once<K extends keyof E & string>(event: K, fn: (...args: E[K]) => void): () => void {
    this.#ee.once(event, fn as (...args: unknown[]) => void);
    return () => this.#ee.off(event, fn as (...args: unknown[]) => void);
  }

  off<K extends keyof E & string>(event: K, fn: (...args: E[K]) => void): void {
    this.#ee.off(event, fn as (...args: unknown[]) => void);
  }

  emit<K extends keyof E & string>(event: K, ...args: E[K]): boolean {
    return this.#ee.emit(event, ...args);
  }

  removeAllListeners(): void {
    this.#ee.removeAllListeners();
  }
}
