// The echo and quality probe (calls.echo): an incoming call from a caller
// the policy lets ring is answered at once, and the caller hears what it
// says calls.echoDelayMs later (media/delay-line.ts, fed by the call's
// decoded audio). When the call ends the caller gets a chat message with
// the call's network report (./call-report.ts): the ICE path, RTT, jitter,
// loss, concealment, MOS both ways, the DTLS-SRTP profile and the codec.
import type { EchoEvent, EventFields } from "../control/messages.js";
import { errorMessage } from "../util/errors.js";
import { bareJid } from "../util/jid.js";
import type { Logger } from "../util/logger.js";
import type { Call } from "./call/call.js";
import { networkReport, reportText, type MediaInfo } from "./call-report.js";

export interface EchoDeps {
  delayMs(): number;
  sendChat(to: string, body: string): Promise<void>;
  logger: Logger;
  /** The `echo` events (control/messages.ts). */
  event(e: EventFields<EchoEvent>): void;
}

/** Serves `call` (already answered, or answering) as the echo service. */
export function serveEcho(call: Call, deps: EchoDeps): void {
  const log = deps.logger.child({ module: "echo", call: call.id });
  let media: MediaInfo | undefined;
  call.on("media", (info) => {
    media = info;
    const delayMs = deps.delayMs();
    void call.echo(delayMs).then(
      () => {
        log.info({ peer: call.peer, delayMs }, "echo started");
        deps.event({ callId: call.id, type: "started", peer: call.peer, delayMs });
      },
      (err: unknown) => log.warn({ err: errorMessage(err) }, "echo not started"),
    );
  });
  // An ICE restart moves the media to another pair: the report names the one used last.
  call.on("ice", (info) => {
    if (media && info.type === "restarted" && info.pair) media = { ...media, pair: info.pair };
  });
  call.once("ended", (info) => {
    const stats = call.stats();
    if (!media || !stats) return; // never carried media: nothing to report
    const report = networkReport(media, stats, info.durationMs);
    log.info({ report }, "echo call report");
    void deps.sendChat(bareJid(call.peer), reportText(report)).then(
      () => deps.event({ callId: call.id, type: "report", peer: call.peer, report: report as unknown as Record<string, unknown> }),
      (err: unknown) => log.warn({ err: errorMessage(err) }, "echo report not sent"),
    );
  });
}
