# SeaweedFS: a real S3 server (the weed binary) for the S3 integration tests
# of fsbackup, started per test on loopback by internal/testenv/s3server.
# Built from its own tools module (no release binary can be downloaded here)
# into .cache, and rebuilt only when the pin in tools/seaweedfs changes: a
# cold build takes minutes on 2 cores.
WEED := .cache/seaweedfs/weed

$(WEED): tools/seaweedfs/go.mod tools/seaweedfs/go.sum
	mkdir -p $(dir $(WEED))
	cd tools/seaweedfs && CGO_ENABLED=0 $(GO) build -trimpath -o ../../$(WEED).tmp github.com/seaweedfs/seaweedfs/weed
	mv $(WEED).tmp $(WEED)

.PHONY: weed test-s3
weed: $(WEED)

# test-s3: fsbackup against a real S3 server (TLS, kill -9 mid-upload, the
# store down past the retries, rotated keys, an untrusted CA, no bucket):
# ~9 min, outside make test with the server's cold build (~13 min of CPU).
test-s3: weed
	QUIESCE_INTEGRATION=1 QUIESCE_S3=1 $(GO) test -count=1 -timeout 30m -v -run TestRealS3 ./fsbackup/

# test-e2e-s3: the chart with the real S3 server as its repository on the
# local cluster (e2e TestS3Repository: TLS with the chart's CA, the server
# killed during an upload, the restore checked); needs the cluster and the
# images of make test.
.PHONY: test-e2e-s3
test-e2e-s3: weed build helm
	$(MAKE) cluster-up
	$(MAKE) images
	QUIESCE_INTEGRATION=1 QUIESCE_S3=1 QUIESCE_E2E=1 QUIESCE_E2E_NO_UP=1 KUBECONFIG=$(CLUSTER_KUBECONFIG) HELM=$(CURDIR)/$(HELM) \
		$(GO) test -count=1 -timeout 30m -v -run TestS3Repository ./e2e/
