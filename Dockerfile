# imp-verify's container images, multi-stage from Debian bookworm (the local base
# image `debian:bookworm-slim`; scripts/containers makes one with debootstrap where no
# image registry is reachable):
#
#   docker build -t imp-verify:bookworm .                   the tool (the default target)
#   docker run --rm --network host -v "$PWD/deploy:/spec:ro" -v "$PWD/out:/out" \
#       imp-verify:bookworm all --spec /spec/deployment.toml --junit /out/junit.xml
#   docker build --target lab -t imp-verify-lab:bookworm .  the lab's servers (docker-compose.yml)
#
# BuildKit (DOCKER_BUILDKIT=1, the default of newer engines) keeps cargo's registry and
# build folder between builds.
ARG DEBIAN=debian:bookworm-slim
# Where the binaries come from: `build` compiles them here (the default); `prebuilt`
# takes the ones in target/image-bin of the build context (scripts/containers puts the
# host's build of the same sources there, so that CI does not compile twice).
ARG BINARIES=build

# Rust from Debian's own packages (rustc-web, cargo-web: 1.85 and later in bookworm).
FROM ${DEBIAN} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      rustc-web cargo-web gcc libc6-dev ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# A network whose TLS is re-signed by a CA of its own hands that CA's bundle in as the
# build secret `ca` (`docker build --secret id=ca,src=/etc/ssl/certs/ca-certificates.crt`).
RUN --mount=type=cache,target=/root/.cargo/registry \
    --mount=type=cache,target=/src/target \
    --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export CARGO_HTTP_CAINFO=/run/secrets/ca; fi \
 && cargo build --release --locked -p imp-verify --bin imp-verify \
        -p imp-verify-testlab --bin imp-verify-lab \
 && mkdir -p /out && cp target/release/imp-verify target/release/imp-verify-lab /out/

# The host's build: imp-verify and imp-verify-lab, copied into target/image-bin.
FROM ${DEBIAN} AS prebuilt
COPY target/image-bin/imp-verify target/image-bin/imp-verify-lab /out/

# The binaries of the images, from the stage BINARIES names (BuildKit builds only it).
FROM ${BINARIES} AS binaries

# The lab's servers: the Debian packages the native lab installs (fixtures/lab/packages,
# default profile), and the lab's topology (imp-verify-lab). The lab script, templates
# and state are mounted from the repository (docker-compose.yml).
FROM ${DEBIAN} AS lab
COPY fixtures/lab/packages /usr/local/share/imp-verify-lab/packages
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      $(awk -F: '$1 == "all" || $1 == "openldap" || $1 == "prosody" { print $2 }' \
        /usr/local/share/imp-verify-lab/packages) ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=binaries /out/imp-verify-lab /usr/local/bin/imp-verify-lab
ENV IMPV_LAB_TOOL=/usr/local/bin/imp-verify-lab
WORKDIR /lab

# The tool: the binary and the system's trust store (for specs with use_system_roots).
FROM ${DEBIAN} AS tool
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=binaries /out/imp-verify /usr/local/bin/imp-verify
WORKDIR /work
ENTRYPOINT ["imp-verify"]
CMD ["--help"]
