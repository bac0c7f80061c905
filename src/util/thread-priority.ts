// Audio before everything else when the machine is short of CPU: a media
// thread asks the scheduler for more than the rest of the daemon has
// (media.priority; on Linux policy and nice value are per thread).
//
// - "realtime" (the default): SCHED_FIFO at priority 10, as sound servers
//   run their audio threads (PipeWire and PulseAudio through rtkit, JACK).
//   A waking media thread then runs at once instead of waiting for the
//   running thread's slice to end: under a saturated machine the 20 ms
//   clock of a nice -10 thread still fired 10-30 ms late several times a
//   10 s attack, at real-time none did (docs/performance.md, "Media
//   threads"). Priority 10 is low among real-time threads: a sound server's
//   own (PipeWire 88, JACK 70+) come first. A tick takes a few ms of CPU for
//   all of the thread's calls, and the kernel keeps 5 % of each CPU for
//   normal threads, so a media thread cannot lock the machine up. Needs
//   CAP_SYS_NICE or an RLIMIT_RTPRIO of 10 or more (systemd LimitRTPRIO=,
//   scripts/jingled.service).
// - "raised": SCHED_OTHER at nice -10 (CAP_SYS_NICE or RLIMIT_NICE, systemd
//   LimitNICE=-10).
// - "normal": the daemon's own.
//
// What is refused falls back to the next one down, and the thread says so
// (the caller logs it). The system helper sets both with
// SCHED_RESET_ON_FORK, so threads and processes the media thread creates
// (libuv's thread pool, a sound device's process) start at the normal
// policy; without the helper only the nice value can be raised (Node's
// os.setPriority), without that reset.
import { setPriority } from "node:os";
import { systemHelper, type SystemHelper } from "./native-system.js";

export const MEDIA_PRIORITIES = ["realtime", "raised", "normal"] as const;
export type MediaPriority = (typeof MEDIA_PRIORITIES)[number];

/** SCHED_FIFO priority of a media thread with media.priority realtime. */
export const MEDIA_THREAD_RT_PRIORITY = 10;
/** Nice value of a media thread with media.priority raised (or realtime refused). */
export const MEDIA_THREAD_NICE = -10;

export interface PriorityOutcome {
  wanted: MediaPriority;
  got: MediaPriority;
  /** Why each level above `got` was refused. */
  refused: string[];
}

export interface PrioritySeams {
  helper: Pick<SystemHelper, "schedule"> | null;
  /** Node's os.setPriority for the calling thread (the fallback without the helper). */
  setNice: (nice: number) => void;
}

const why = (err: unknown): string => {
  const e = err as { code?: unknown; message?: unknown };
  return typeof e?.code === "string" && e.code !== e.message ? `${e.code}: ${String(e.message)}` : String(e?.message ?? err);
};

/** Raises the calling thread's priority as far as `wanted` allows and the system permits. */
export function raiseThreadPriority(wanted: MediaPriority, seams: PrioritySeams = { helper: systemHelper(), setNice: (n) => setPriority(0, n) }): PriorityOutcome {
  const refused: string[] = [];
  if (wanted === "realtime") {
    if (!seams.helper) refused.push("realtime: the system helper is not built (native/system)");
    else {
      try {
        seams.helper.schedule("fifo", MEDIA_THREAD_RT_PRIORITY);
        return { wanted, got: "realtime", refused };
      } catch (err) {
        refused.push(`realtime: ${why(err)}`);
      }
    }
  }
  if (wanted !== "normal") {
    try {
      if (seams.helper) seams.helper.schedule("other", MEDIA_THREAD_NICE);
      else seams.setNice(MEDIA_THREAD_NICE);
      return { wanted, got: "raised", refused };
    } catch (err) {
      refused.push(`raised: ${why(err)}`);
    }
  }
  return { wanted, got: "normal", refused };
}
