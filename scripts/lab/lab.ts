// A lab: a scratch directory, a throwaway Prosody with the accounts asked
// for, and jingled daemons logged into it with their configs — what a test
// file, the demo or a benchmark needs before its first call.
//
//   const lab = await startLab({
//     name: "demo",
//     users: { alice: "alice-pw", bob: "bob-pw" },
//     daemons: { alice: { input: { type: "file", path: wav } }, bob: {} },
//   });
//   await lab.daemons.alice.control.request("call", { jid: lab.daemons.bob.jid });
//   await lab.stop();
//
// Start order: setup (what Prosody and the daemons need: a coturn, speech
// files), Prosody, the daemons. stop() stops everything in the reverse order
// — whatever a test handed over with adopt() or cleanup(), then the
// daemons, Prosody, what setup adopted — each process by its PID through its
// own stop(), and then removes the directory (kept with KEEP_TEST_DIR=1). A
// failure in one stop does not keep the others running; the first is thrown
// at the end. stop() is safe after a start that failed half-way.
//
// No test-framework imports: test/helpers/with-lab.ts ties a lab to a
// node:test suite's before and after.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startDaemon, type Daemon, type DaemonOptions } from "./daemon.js";
import { startProsody, type ProsodyOptions, type ProsodyServer } from "./prosody.js";

/** startDaemon's options; what is left out comes from the lab (see LabOptions.daemons). */
export type LabDaemonOptions = Partial<DaemonOptions>;

export type LabProsodyOptions = Omit<ProsodyOptions, "users">;

export interface LabOptions<D extends string = string> {
  /** Names the scratch directory: $TMPDIR/jingled-NAME-XXXXXX. */
  name: string;
  /** Accounts on the lab's Prosody: username -> password. */
  users?: Readonly<Record<string, string>>;
  /** Prosody's other options; as a function it sees the lab after setup (e.g. the coturn setup adopted). */
  prosody?: LabProsodyOptions | ((lab: Lab) => LabProsodyOptions);
  /**
   * Runs first, with the directory made: what Prosody or the daemons need.
   * Whatever it starts it hands to lab.adopt(), to be stopped after Prosody.
   */
  setup?: (lab: Lab) => Promise<void>;
  /**
   * The daemons by name, started in this order (all at once with `parallel`).
   * Defaults: username = the name, password = that user's, dir = DIR/NAME,
   * server = the lab's Prosody. As a function it sees the lab with Prosody up.
   */
  daemons?: Record<D, LabDaemonOptions> | ((lab: Lab) => Record<D, LabDaemonOptions>);
  /** Start the daemons at once instead of one after the other. */
  parallel?: boolean;
  /**
   * Why the lab cannot run here (a missing program), or undefined. When it
   * says why, start() starts nothing and `skipped` holds the reason.
   */
  unavailable?: () => string | undefined;
}

/** Something the lab stops: by stop() (processes, servers, connections) or close() (sockets, relays, clients). */
export type Stoppable = { stop(): unknown } | { close(): unknown };

export interface Lab<D extends string = string> {
  /** The scratch directory. */
  readonly dir: string;
  readonly prosody: ProsodyServer;
  /** The daemons of LabOptions.daemons, by name. */
  readonly daemons: Readonly<Record<D, Daemon>>;
  /** Why the lab did not start (LabOptions.unavailable), or undefined. */
  readonly skipped: string | undefined;
  /** Password of one of the lab's users. */
  password(username: string): string;
  /** One more daemon on the lab's Prosody, with the same defaults; the lab stops it. */
  startDaemon(name: string, o?: LabDaemonOptions): Promise<Daemon>;
  /** Hands `thing` to the lab, which stops it before whatever was started earlier. Returns `thing`. */
  adopt<T extends Stoppable>(thing: T): T;
  /** Runs `fn` when the lab stops, before the stops of whatever was started earlier. */
  cleanup(fn: () => unknown): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** A lab not started yet: start() it (a test suite's before), stop() it (its after). */
export function createLab<D extends string>(o: LabOptions<D>): Lab<D> {
  let dir: string | undefined;
  let prosody: ProsodyServer | undefined;
  let daemons: Record<D, Daemon> | undefined;
  let skipped: string | undefined;
  /** What to do on stop, in start order; run last to first. */
  const stack: (() => unknown)[] = [];
  const users = o.users ?? {};

  const need = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`lab ${o.name}: ${what} before the lab started${skipped ? ` (it did not: ${skipped})` : ""}`);
    return value;
  };

  function daemonOptions(name: string, d: LabDaemonOptions): DaemonOptions {
    const username = d.username ?? name;
    const server = d.server ?? d.prosody ?? need(prosody, "a daemon");
    return { ...d, server, username, password: d.password ?? users[username], dir: d.dir ?? join(need(dir, "a daemon"), name) };
  }

  const lab: Lab<D> = {
    get dir() {
      return need(dir, "dir");
    },
    get prosody() {
      return need(prosody, "prosody");
    },
    get daemons() {
      return need(daemons, "daemons");
    },
    get skipped() {
      return skipped;
    },
    password(username) {
      const pw = users[username];
      if (pw === undefined) throw new Error(`lab ${o.name}: no user ${username}`);
      return pw;
    },
    async startDaemon(name, d = {}) {
      return lab.adopt(await startDaemon(daemonOptions(name, d)));
    },
    adopt(thing) {
      stack.push(() => ("stop" in thing ? thing.stop() : thing.close()));
      return thing;
    },
    cleanup(fn) {
      stack.push(fn);
    },

    async start() {
      if (dir) throw new Error(`lab ${o.name}: started twice`);
      skipped = o.unavailable?.();
      if (skipped) return;
      const made = mkdtempSync(join(tmpdir(), `jingled-${o.name}-`));
      dir = made;
      stack.push(() => {
        if (!process.env.KEEP_TEST_DIR) rmSync(made, { recursive: true, force: true });
      });
      await o.setup?.(lab);

      const prosodyOptions = typeof o.prosody === "function" ? o.prosody(lab) : (o.prosody ?? {});
      const server = await startProsody({ ...prosodyOptions, users: Object.entries(users).map(([username, password]) => ({ username, password })) });
      stack.push(() => server.stop());
      prosody = server;

      const specs = Object.entries<LabDaemonOptions>(typeof o.daemons === "function" ? o.daemons(lab) : (o.daemons ?? ({} as Record<D, LabDaemonOptions>)));
      const started: Daemon[] = [];
      // The daemons stop together, as one step after what the tests adopt.
      stack.push(() => Promise.all(started.map((d) => d.stop())));
      const byName = {} as Record<D, Daemon>;
      daemons = byName; // filled as they come up: after a failed start, those that did
      const one = async ([name, d]: [string, LabDaemonOptions]) => {
        const daemon = await startDaemon(daemonOptions(name, d));
        started.push(daemon);
        byName[name as D] = daemon;
      };
      if (o.parallel) {
        // Each start is awaited, so a daemon that did start is stopped even when another one failed.
        const results = await Promise.allSettled(specs.map(one));
        const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
        if (failed) throw failed.reason;
      } else {
        for (const spec of specs) await one(spec);
      }
    },

    async stop() {
      let first: unknown;
      let failed = false;
      while (stack.length > 0) {
        try {
          await stack.pop()!();
        } catch (err) {
          if (!failed) first = err;
          failed = true;
        }
      }
      if (failed) throw first;
    },
  };
  return lab;
}

/** A started lab; if starting fails, what did start is stopped again before the error is thrown. */
export async function startLab<D extends string>(o: LabOptions<D>): Promise<Lab<D>> {
  const lab = createLab(o);
  try {
    await lab.start();
  } catch (err) {
    await lab.stop().catch(() => undefined);
    throw err;
  }
  return lab;
}
