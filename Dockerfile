# One image for both services: `SERVICE=frontend` or `SERVICE=backend` picks which one runs
# (see image/). `az containerapp up --source .` builds this file; so does CI.
#
#   docker build -t dapr-pair .
#   docker run -e SERVICE=backend -p 8080:8080 dapr-pair
#
# Build stage: Alpine's Rust is the x86_64/aarch64-unknown-linux-musl toolchain, so the binary
# is static and runs on `scratch`. Dependencies are compiled in their own layer, from the
# manifests alone, so a source change rebuilds only the project's crates.
FROM rust:1.95-alpine AS build
# The official image already has musl-dev (static linking needs it); a no-op there.
# ca-certificates: the frontend fetches its identity provider's keys (JWKS) over HTTPS, and the
# runtime image has no CA bundle of its own; it gets this one.
# hadolint ignore=DL3018
RUN apk add --no-cache musl-dev ca-certificates
WORKDIR /src

# 1. Dependencies only: the workspace manifests and the lock file, with empty crates. Every
# member's manifest is needed for the workspace to load; only the image's crates are built.
COPY Cargo.toml Cargo.lock ./
COPY service-kit/Cargo.toml service-kit/
COPY frontend/Cargo.toml frontend/
COPY backend/Cargo.toml backend/
COPY image/Cargo.toml image/
COPY launcher/Cargo.toml launcher/
COPY test-support/Cargo.toml test-support/
COPY tests/Cargo.toml tests/
COPY xtask/Cargo.toml xtask/
RUN for crate in service-kit frontend backend launcher test-support; do \
      mkdir -p "$crate/src" && touch "$crate/src/lib.rs"; \
    done \
 && mkdir -p image/src xtask/src/bench \
 && for main in image/src/main.rs xtask/src/main.rs xtask/src/bench/echo_frontend.rs \
      xtask/src/bench/echo_backend.rs tests/main.rs; do echo 'fn main() {}' > "$main"; done \
 && cargo build --release --locked -p dapr-pair-image \
 && rm -rf service-kit/src frontend/src backend/src image/src

# 2. The project's crates. COPY keeps the files' own modification times, which can be older
# than the empty crates above: touch them so cargo sees they changed.
COPY service-kit/src service-kit/src
COPY frontend/src frontend/src
COPY backend/src backend/src
COPY image/src image/src
RUN find service-kit/src frontend/src backend/src image/src -name '*.rs' -exec touch {} + \
 && cargo build --release --locked -p dapr-pair-image \
 && cp target/release/dapr-pair /dapr-pair

# Runtime: the static binary and the CA bundle, run as an unprivileged user (no /etc/passwd
# needed: the numeric uid is what Kubernetes' runAsNonRoot checks). The services talk plain
# HTTP to their sidecar on loopback; the CA bundle is for the identity provider's JWKS
# (AUTH_MODE=jwt), which rustls finds at the usual path.
FROM scratch
# OCI labels, which registries show: where the source is, which commit, under what licence.
# CI and `cargo xtask image` pass SOURCE and REVISION; `az containerapp up` leaves them empty.
ARG SOURCE=""
ARG REVISION=""
LABEL org.opencontainers.image.title="dapr-pair" \
      org.opencontainers.image.description="The dapr-pair frontend or backend, chosen by SERVICE" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}"
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /dapr-pair /dapr-pair
USER 10001:10001
ENV HOST=0.0.0.0 \
    PORT=8080 \
    LOG_FORMAT=json
# Prometheus metrics (METRICS_PORT), for scrapers only: never behind an ingress.
EXPOSE 9464
# The API port last: without --target-port, `az containerapp up` makes the last EXPOSE the
# ingress target port (azure-cli's _get_ingress_and_target_port).
EXPOSE 8080
ENTRYPOINT ["/dapr-pair"]
