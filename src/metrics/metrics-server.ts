// GET /metrics over HTTP on a local address (metrics.address, 127.0.0.1 by
// default): the Prometheus scrape endpoint. Read-only, no other path.
import http from "node:http";
import type { EventBus } from "../control/event-bus.js";
import type { Logger } from "../util/logger.js";
import { errorMessage } from "../util/errors.js";
import { CallMetrics, processFamilies, type StatusView } from "./call-metrics.js";
import { CONTENT_TYPE, renderFamilies } from "./exposition.js";

export interface MetricsServerOptions {
  address: string;
  port: number;
  events: EventBus;
  status: () => StatusView;
  version: string;
  logger: Logger;
}

export interface MetricsServer {
  /** The bound port (useful with port 0). */
  readonly port: number;
  close(): Promise<void>;
}

export async function startMetricsServer(o: MetricsServerOptions): Promise<MetricsServer> {
  const log = o.logger.child({ component: "metrics" });
  const calls = new CallMetrics();
  const unsubscribe = o.events.subscribe((e) => calls.onEvent(e.message));
  const startTime = Date.now() - process.uptime() * 1000;

  const server = http.createServer((req, res) => {
    const path = (req.url ?? "").split("?")[0];
    if (path !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found: the metrics are at /metrics\n");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" }).end("only GET\n");
      return;
    }
    let body: string;
    try {
      body = renderFamilies([
        { name: "jingled_info", help: "The daemon's version", type: "gauge", samples: [{ labels: { version: o.version }, value: 1 }] },
        ...calls.families(o.status()),
        ...processFamilies(startTime),
      ]);
    } catch (err) {
      log.error({ err: errorMessage(err) }, "metrics could not be rendered");
      res.writeHead(500, { "content-type": "text/plain" }).end("metrics failed\n");
      return;
    }
    res.writeHead(200, { "content-type": CONTENT_TYPE, "content-length": Buffer.byteLength(body) });
    res.end(req.method === "HEAD" ? undefined : body);
  });
  // A scraper is one client every few seconds; anything more is not a scraper.
  server.maxConnections = 16;
  server.headersTimeout = 5000;
  server.requestTimeout = 10_000;

  await new Promise<void>((resolve, reject) => {
    server.once("error", (err) => {
      unsubscribe();
      reject(new Error(`metrics: cannot listen on ${o.address}:${o.port}: ${errorMessage(err)}`));
    });
    server.listen({ host: o.address, port: o.port }, () => resolve());
  });
  server.on("error", (err) => log.error({ err: errorMessage(err) }, "metrics server error"));
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : o.port;
  log.info({ address: o.address, port }, "metrics listening");
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        unsubscribe();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
