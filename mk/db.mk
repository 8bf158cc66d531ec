# Database images and the local consistency proof (issue 12). Not part of
# `make images` or `make test` yet: a cold build of the three images takes
# ~13 min on 2 cores (docs/consistency.md), a warm one under a second.
DB_IMAGES_DIR := $(CURDIR)/.cache/images/db
DB_PROOF_CYCLES ?= 5

.PHONY: db-images test-consistency-local

# db-images: PostgreSQL 15, MariaDB 10.11, Redis 7 from Debian packages
# (mmdebstrap + buildah, no registry), as OCI archives in .cache/images/db
# (a subdirectory, so hack/cluster/load-images.sh does not import them yet).
# Each is rebuilt only when its script, package list or entrypoint changes.
db-images:
	hack/images/dbimage.sh postgres $(DB_IMAGES_DIR)/postgres.tar
	hack/images/dbimage.sh mariadb $(DB_IMAGES_DIR)/mariadb.tar
	hack/images/dbimage.sh redis $(DB_IMAGES_DIR)/redis.tar

# test-consistency-local: the recipes of examples/databases against real
# servers on this machine (root; no cluster), table into docs/consistency.md's
# results file.
test-consistency-local:
	QUIESCE_DBPROOF=1 QUIESCE_DBPROOF_CYCLES=$(DB_PROOF_CYCLES) QUIESCE_DBPROOF_OUT=$(CURDIR)/.cache/consistency-local.md \
		$(GO) test -count=1 -timeout 60m -run TestLocalProof -v ./e2e/consistency/
	@cat $(CURDIR)/.cache/consistency-local.md
