# syntax=docker/dockerfile:1
# The nats-cluster image: the compiled launcher next to the official nats-server binary on a
# distroless glibc base. No shell, no Node, no Bun runtime beyond the one compiled into the launcher.
#   docker buildx build --platform linux/amd64,linux/arm64 -t <you>/nats-cluster .
# (Not built or pushed from this repo's workspace, which has no Docker engine; scripts/image-rootfs
# assembles the same final file system without Docker and test/e2e/image.test.ts runs it.)

# Must equal the "bun" devDependency in package.json: the launcher is built by this exact Bun.
ARG BUN_VERSION=1.4.5
# The one place the nats-server version is pinned: the version the e2e suite runs (Debian sid's package,
# fetched by scripts/fetch-newer-nats-server; test/repo/tested-nats-server.test.ts checks they agree).
ARG NATS_VERSION=2.15.1

# The official static nats-server binary; the scratch variant holds little else.
FROM nats:${NATS_VERSION}-scratch AS nats

# Build on the builder's own platform and cross-compile with `bun build --compile --target`, so an
# arm64 image needs no QEMU emulation (Bun fetches the target's runtime for the compile step).
FROM --platform=$BUILDPLATFORM oven/bun:${BUN_VERSION} AS build
# Both set by BuildKit (docker buildx, Fly's remote builder): the builder's platform and the image's
# architecture (amd64 or arm64). The legacy builder sets neither; stop there with a message saying so
# rather than compile for the wrong architecture.
ARG BUILDPLATFORM
ARG TARGETARCH
RUN if [ -z "$BUILDPLATFORM" ] || [ -z "$TARGETARCH" ]; then \
      echo "BUILDPLATFORM='$BUILDPLATFORM' TARGETARCH='$TARGETARCH': build with BuildKit (docker buildx build, or fly deploy)" >&2; exit 1; \
    fi
WORKDIR /src
COPY package.json package-lock.json ./
# The project locks with npm's package-lock.json, which this Bun reads directly: it migrates the
# lock in memory (writes no bun.lock) and installs exactly the locked versions, and
# --frozen-lockfile fails the build if package.json has drifted from the lock (checked with
# bun 1.4.5). --production: the build needs only "dependencies"; the devDependencies include
# the bun and deno npm packages, which would download whole runtimes for nothing.
RUN bun install --frozen-lockfile --production
COPY tsconfig.json main.ts ./
COPY lib ./lib
# The git commit the image is built from, which `nats-cluster --version` shows (the release workflow
# passes it; a build without it shows the version alone).
ARG GIT_REVISION=""
# `bun run build` is package.json's build script (bun build --compile --minify ...); --target is
# appended so the binary is compiled for the image's architecture (glibc), and --define bakes the
# revision in (lib/version.ts).
RUN case "$TARGETARCH" in \
      amd64) target=bun-linux-x64 ;; \
      arm64) target=bun-linux-arm64 ;; \
      *) echo "unsupported TARGETARCH '$TARGETARCH' (amd64 or arm64)" >&2; exit 1 ;; \
    esac \
 && case "$GIT_REVISION" in \
      *[!0-9a-f]*) echo "GIT_REVISION '$GIT_REVISION' is not a lower-case hex commit id" >&2; exit 1 ;; \
    esac \
 && bun run build --target="$target" --define "NATS_CLUSTER_REVISION=\"$GIT_REVISION\"" \
 && mkdir -p /rootfs/etc/nats /rootfs/nats-store

# distroless/cc: glibc (which the compiled Bun binary links: libc, libm, libpthread, libdl),
# CA certificates, tzdata, /etc/passwd; nothing else (no shell, no package manager).
FROM gcr.io/distroless/cc-debian12
# Empty /etc/nats (the launcher writes its config there) and the store mount point.
COPY --from=build /rootfs/ /
COPY --from=nats /nats-server /usr/local/bin/nats-server
COPY --from=build /src/dist/nats-cluster /usr/local/bin/nats-cluster
ENV NATS_STORE_DIR=/nats-store \
    NATS_CONFIG_FILE=/etc/nats/nats-server.conf \
    NATS_SERVER_BIN=/usr/local/bin/nats-server
# Runs as root (distroless/cc's default, stated here on purpose): Fly mounts volumes root-owned
# and the machine is a Firecracker microVM, not a shared kernel, so a non-root user would only
# need a chown step that a shell-less image cannot run.
USER 0:0
VOLUME /nats-store
# clients, cluster routes (4248, as in the seed), gateways, monitoring (/healthz), Prometheus metrics
EXPOSE 4222 4248 7222 8222 7777
# For Docker and other runtimes that honour it; Fly ignores it and uses fly.toml's [checks].
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/nats-cluster", "healthcheck"]
# The launcher discovers peers, writes the config and execs nats-server as the same PID, so
# Fly's kill_signal (SIGUSR2: lame-duck mode) reaches nats-server directly.
ENTRYPOINT ["/usr/local/bin/nats-cluster"]
