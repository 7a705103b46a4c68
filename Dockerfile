# syntax=docker/dockerfile:1
# deploy-action: a static Rust binary on an empty image, plus CA certificates.
# Build: docker build -t deploy-action .   (the Action builds this file when used as `uses: org/deploy-action@v1`)

ARG RUST_IMAGE=rust:1-alpine

FROM ${RUST_IMAGE} AS build
RUN apk add --no-cache musl-dev ca-certificates
WORKDIR /src
COPY Cargo.toml Cargo.lock rustfmt.toml ./
COPY src ./src
# musl is the default target on Alpine, so this binary is fully static.
RUN cargo build --release --locked --bin deploy-action \
 && install -D target/release/deploy-action /out/deploy-action

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/deploy-action /usr/local/bin/deploy-action
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
LABEL org.opencontainers.image.title="deploy-action" \
      org.opencontainers.image.description="From git push to a verified deployment: tags, build, push, dispatch, release, rollback."
ENTRYPOINT ["/usr/local/bin/deploy-action"]
