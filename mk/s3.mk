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

.PHONY: weed
weed: $(WEED)
