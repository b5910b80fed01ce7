# The image holds one file: the static binary that scripts/build-image
# compiled into .build/<os>-<arch>/ (CGO_ENABLED=0, -trimpath, version
# stamped). It has no shell and no /etc/ssl: the binary carries its own CA
# roots. It runs as nobody (65534:65534) and writes nothing unless a state
# file is configured, so a read-only root filesystem is fine. No secret is
# baked in: give the API key at run time with --videoconduit.api-key-file.
#
# Build with scripts/build-image, which sets the platform and the labels.
FROM scratch
ARG TARGETOS
ARG TARGETARCH
ARG VERSION
ARG REVISION
ARG CREATED
LABEL org.opencontainers.image.title="videoconduit_exporter" \
      org.opencontainers.image.description="Prometheus exporter for the VideoConduit Jobs API" \
      org.opencontainers.image.source="https://github.com/videoconduit/videoconduit_exporter" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
COPY .build/${TARGETOS}-${TARGETARCH}/videoconduit_exporter /bin/videoconduit_exporter
USER 65534:65534
EXPOSE 10177
ENTRYPOINT ["/bin/videoconduit_exporter"]
