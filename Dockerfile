# One image with both binaries: seriald (the agent) and serialctl (client,
# sidecar, pki, doctor). No Docker engine is needed to test it: the build
# stage runs scripts/build-release.sh, which tests/tests/release.rs runs
# too, and hadolint lints this file in tests/tests/deploy.rs.
#
#   docker build -t serialmesh .
#   docker run --rm serialmesh serialctl --version

# The toolchain the test suite runs with.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# .git stays out of the build context (.dockerignore), so the commit for
# serialmesh_build_info comes in as an argument:
#   docker build --build-arg SERIALMESH_GIT_COMMIT="$(git rev-parse --short=12 HEAD)" .
# Without it the metric says commit="unknown".
ARG SERIALMESH_GIT_COMMIT=unknown
RUN ./scripts/build-release.sh \
    && ./dist/seriald --version \
    && ./dist/serialctl --version

# Static binaries need no libc. distroless/static brings what they do use:
# /etc/passwd with the nonroot user (65532), and nothing else: no shell.
# Host names resolve through /etc/hosts and /etc/resolv.conf, which the
# runtime mounts, with the lookups built into static glibc (no NSS modules
# needed; docs/deployment.md).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/dist/seriald /src/dist/serialctl /usr/local/bin/
# The client runs as non-root by default. The agent needs root (or the
# host's dialout group) for /dev/tty*: see docs/deployment.md.
USER 65532:65532
EXPOSE 21317
CMD ["serialctl", "--help"]
