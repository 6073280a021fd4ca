/**
 * Serving HTTP (the metrics exporter): Bun.serve where it exists (an idle server takes less memory than with
 * node:http), node:http elsewhere.
 */
import { bun } from "./bun.ts";

/** Serves `handler` on host:port; rejects when it cannot listen (e.g. the port is in use). */
export async function serveHttp(host: string, port: number, handler: (request: Request) => Promise<Response>): Promise<void> {
  const b = bun();
  if (b) {
    b.serve({ hostname: host, port, fetch: handler });
    return;
  }
  const { createServer } = await import("node:http");
  const server = createServer(async (req, res) => {
    const response = await handler(new Request(`http://localhost${req.url ?? "/"}`, { method: req.method }));
    res.writeHead(response.status, Object.fromEntries(response.headers)).end(await response.text());
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
}
