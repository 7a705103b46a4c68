# syntax=docker/dockerfile:1
# deploy-action: a static Rust binary, CA certificates and the OpenSSH client (the
# compose-ssh deploy target runs `ssh`) on a minimal Alpine image.
# Build: docker build -t deploy-action .   (the Action builds this file when used as `uses: org/deploy-action@v1`)

ARG RUST_IMAGE=rust:1-alpine
ARG RUNTIME_IMAGE=alpine:3.22

FROM ${RUST_IMAGE} AS build
RUN apk add --no-cache musl-dev ca-certificates
WORKDIR /src
COPY Cargo.toml Cargo.lock rustfmt.toml ./
COPY src ./src
# musl is the default target on Alpine, so this binary is fully static.
RUN cargo build --release --locked --bin deploy-action \
 && install -D target/release/deploy-action /out/deploy-action

FROM ${RUNTIME_IMAGE}
# openssh-client-default: ssh only (no scp/sftp/agent), ~3 MB.
RUN apk add --no-cache ca-certificates openssh-client-default
COPY --from=build /out/deploy-action /usr/local/bin/deploy-action
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
LABEL org.opencontainers.image.title="deploy-action" \
      org.opencontainers.image.description="From git push to a verified deployment: tags, build, push, dispatch, release, rollback."
ENTRYPOINT ["/usr/local/bin/deploy-action"]
