# syntax=docker/dockerfile:1
# Build stage: a release build with the locked dependency versions.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY crds ./crds
RUN cargo build --release --locked \
 && cp target/release/domain-monitor /domain-monitor

# Runtime stage: glibc and CA certificates only, non-root, nothing writable needed.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /domain-monitor /usr/local/bin/domain-monitor
USER 65532:65532
EXPOSE 8000
ENTRYPOINT ["/usr/local/bin/domain-monitor"]
CMD ["run"]
