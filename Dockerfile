# syntax=docker/dockerfile:1
# deploy-action's image: the static (musl) binary, Alpine's CA certificates and OpenSSH client
# (`ssh` only; the compose-ssh deploy target runs it) with the libraries they link — no shell,
# no package manager. The release workflow (.github/workflows/release.yml) makes the same
# layers daemonless with `deploy-action build --builder files` from the same
# scripts/release/rootfs.sh; this file is the recipe for anyone building it themselves:
#   docker buildx build --platform linux/amd64,linux/arm64 -t deploy-action .
# action.yml does not build it: it names the published image (`image: docker://…`).

ARG RUST_IMAGE=rust:1-alpine
# Pinned by digest (the release workflow's ALPINE is the same).
ARG ALPINE=alpine:3.22@sha256:4bcff63911fcb4448bd4fdacec207030997caf25e9bea4045fa6c8c44de311d1

FROM ${RUST_IMAGE} AS build
RUN apk add --no-cache musl-dev
WORKDIR /src
COPY Cargo.toml Cargo.lock rustfmt.toml ./
COPY src ./src
# musl is the default target on Alpine, so this binary is fully static.
RUN cargo build --release --locked --bin deploy-action \
 && install -D target/release/deploy-action /out/deploy-action

# Installs the target architecture's packages without running them: no emulation needed.
FROM --platform=$BUILDPLATFORM ${ALPINE} AS rootfs
ARG TARGETARCH
COPY scripts/release/rootfs.sh /rootfs.sh
RUN sh /rootfs.sh "${TARGETARCH}" /rootfs

FROM scratch
COPY --from=rootfs /rootfs/ /
COPY --from=build /out/deploy-action /usr/local/bin/deploy-action
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
LABEL org.opencontainers.image.title="deploy-action" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.description="From git push to a verified deployment: tags, build, push, dispatch, release, rollback."
ENTRYPOINT ["/usr/local/bin/deploy-action"]
