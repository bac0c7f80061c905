// A promise given a deadline.

/** `p`'s outcome, or a rejection "`what` in `ms` ms" if it has not settled by then; the timer goes either way. */
export async function withTimeout<T>(p: Promise<T>, ms: number, what = "not done"): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} in ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
