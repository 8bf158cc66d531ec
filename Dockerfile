# quiesce image: one static binary on an empty base.
#
# Build stage: any Go image of the module's Go version. Here (no registry) `make
# image` builds with buildah, passes GO_IMAGE=docker.io/library/golang:local
# (hack/images/golang.sh) and mounts the host's module cache read-only with
# GOPROXY=off, so the build is offline; elsewhere the default image and the
# module proxy work as usual.
ARG GO_IMAGE=docker.io/library/golang:1.26
FROM ${GO_IMAGE} AS build
WORKDIR /src
ENV CGO_ENABLED=0
# Unset unless given with --build-arg (make image sets them for the offline build).
ARG GOPROXY
ARG GOFLAGS
ARG GOCACHE
# No separate `go mod download` layer: it fetches the whole module graph
# (test-only modules too), which the offline build does not have; go build
# fetches only what the binary needs.
COPY . .
ARG VERSION=dev
RUN go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/quiesce ./cmd/quiesce && \
    mkdir -p /out/tmp && chmod 1777 /out/tmp && /out/quiesce --help >/dev/null

# Runtime stage: nothing but the binary (hooks run inside the application's
# containers through the CRI, so no shell is needed here) and a /tmp.
# Non-root by default: the coordinator and the CLI need no privileges. The node
# agent talks to the containerd socket and reads /var/lib/kubelet/pods through
# hostPath, which needs root, so the chart sets runAsUser: 0 for the agent only.
FROM scratch
COPY --from=build /out/quiesce /usr/bin/quiesce
COPY --from=build /out/tmp /tmp
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV TMPDIR=/tmp HOME=/tmp
USER 65532:65532
ENTRYPOINT ["/usr/bin/quiesce"]
