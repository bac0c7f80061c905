// One serial queue per call: remote stanzas and local commands for a call are
// applied in order, never interleaved across awaits.

export class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve();

  /** Runs `task` after every task queued before it; its result or error goes to the caller only. */
  run<T>(task: () => Promise<T> | T): Promise<T> {
    const result = this.#tail.then(task, task);
    this.#tail = result.catch(() => undefined);
    return result;
  }
}
