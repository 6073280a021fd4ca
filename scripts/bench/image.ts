/**
 * Image size: the image scripts/image-build built from the Dockerfile (amd64), its base and its two programs, next to
 * the seed's image (connyay/nats-cluster:main: debian:bookworm-slim, nats-server 2.11 from nats:2.11-scratch, the
 * Prometheus NATS exporter v0.17.2 and its Go launcher), which cannot be pulled here: its base is measured as built
 * by scripts/image-standins (the same content), nats-server 2.11 lies between the 2.10.27 and the pinned binary
 * measured here, and the two Go programs are an estimate. Sizes are uncompressed, as buildah stores the layers.
 */
import { statSync } from "node:fs";
import { Container, IMAGE, layerBytes } from "../../test/support/image.ts";
import { testedNatsServer } from "../../sim/tested-nats-server.ts";
import { PROJECT_ROOT } from "./util.ts";

const MiB = 1024 * 1024;
const mib = (bytes: number) => Math.round((bytes / MiB) * 10) / 10;
const SLIM = "docker.io/library/debian:bookworm-slim";
/** The seed's exporter and launcher, statically linked Go programs not built here: a range, not a measurement. */
const SEED_GO_PROGRAMS_MIB: [number, number] = [15, 28];

export interface ImageResult {
  imageMiB: number;
  layers: number;
  baseMiB: number;
  launcherMiB: number;
  natsServerMiB: number;
  seed: { baseMiB: number; natsServerMiB: [number, number]; goProgramsMiB: [number, number]; totalMiB: [number, number] };
}

export function benchImage(): ImageResult {
  const layers = layerBytes(IMAGE);
  const c = Container.open(IMAGE, "nats-cluster-bench-image");
  try {
    const size = (p: string) => statSync(c.path(p)).size;
    const slim = layerBytes(SLIM).reduce((a, b) => a + b, 0);
    const nats = [statSync(`${PROJECT_ROOT}/.tmp/nats-server-trixie/usr/sbin/nats-server`).size, statSync(testedNatsServer()).size].map(mib) as [
      number,
      number,
    ];
    const lo = mib(slim) + nats[0] + SEED_GO_PROGRAMS_MIB[0];
    const hi = mib(slim) + nats[1] + SEED_GO_PROGRAMS_MIB[1];
    return {
      imageMiB: mib(layers.reduce((a, b) => a + b, 0)),
      layers: layers.length,
      baseMiB: mib(layers[0]!),
      launcherMiB: mib(size(c.config.entrypoint[0]!)),
      natsServerMiB: mib(size(c.config.env.NATS_SERVER_BIN!)),
      seed: { baseMiB: mib(slim), natsServerMiB: nats, goProgramsMiB: SEED_GO_PROGRAMS_MIB, totalMiB: [Math.round(lo), Math.round(hi)] },
    };
  } finally {
    c.close();
  }
}
