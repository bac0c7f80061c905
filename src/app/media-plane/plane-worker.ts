// A media thread (worker_threads): its PlaneHost takes the main thread's
// messages from the parent port. It loads everything a call needs and runs
// each codec once before it says it is ready, so a call never waits for
// that. What it is told at start: ./plane-protocol.ts PlaneThreadData.
import { parentPort, threadId, workerData } from "node:worker_threads";
import { warmUpCodecs } from "../../media/codecs/index.js";
import { createLogger } from "../../util/logger.js";
import { PlaneHost } from "./plane-host.js";
import type { MainMessage, PlaneMessage, PlaneThreadData } from "./plane-protocol.js";

const port = parentPort!;
const data = workerData as PlaneThreadData;
const logger = createLogger({ level: data.log.level, format: data.log.format }).child({ thread: threadId });
const host = new PlaneHost({ post: (m: PlaneMessage) => port.postMessage(m), logger, statsEveryMs: data.statsEveryMs });
port.on("message", (m: MainMessage) => host.handle(m));
warmUpCodecs();
port.postMessage({ kind: "ready" } satisfies PlaneMessage);
