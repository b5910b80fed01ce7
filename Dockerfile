# Multi-stage build: a static binary with the version stamped in, on a
# distroless runtime as an unprivileged user. No secret is baked in: give the
# API key at run time with --videoconduit.api-key-file (a mounted secret) or
# VIDEOCONDUIT_API_KEY.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG REVISION=unknown
ARG BRANCH=unknown
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w \
        -X github.com/prometheus/common/version.Version=${VERSION} \
        -X github.com/prometheus/common/version.Revision=${REVISION} \
        -X github.com/prometheus/common/version.Branch=${BRANCH}" \
      -o /out/videoconduit_exporter .

FROM gcr.io/distroless/static-debian12
COPY --from=build /out/videoconduit_exporter /bin/videoconduit_exporter
USER 65534
EXPOSE 10177
ENTRYPOINT ["/bin/videoconduit_exporter"]
