# Database images and the consistency proofs (issue 12). `make images` (so
# make test) builds the PostgreSQL image only (~5 min cold on 2 cores, under
# a second warm); the three take ~13 min cold (docs/consistency.md).
DB_PROOF_CYCLES ?= 5
DB_CLUSTER_CYCLES ?= 20
DB_CLUSTER_CONTROL ?= 5
DB_CLUSTER_DBS ?= postgres,mariadb,redis

.PHONY: db-images test-consistency test-consistency-local

# db-images: PostgreSQL 15, MariaDB 10.11, Redis 7 from Debian packages
# (mmdebstrap + buildah, no registry), as OCI archives in .cache/images,
# which hack/cluster/load-images.sh imports into the nodes. Each is rebuilt
# only when its script, package list or entrypoint changes.
db-images:
	hack/images/dbimage.sh postgres $(IMAGES_DIR)/postgres.tar
	hack/images/dbimage.sh mariadb $(IMAGES_DIR)/mariadb.tar
	hack/images/dbimage.sh redis $(IMAGES_DIR)/redis.tar

# test-consistency: the cluster proof, DB_CLUSTER_CYCLES backups of each
# recipe of DB_CLUSTER_DBS through the installed chart under load and
# DB_CLUSTER_CONTROL with the pod's hooks removed, each restored into a new
# namespace and checked (e2e/dbproof_test.go; make test runs 2 cycles of
# PostgreSQL's); its table into docs/consistency.md's generated section
# (and .cache/consistency-cluster.md). ~40 s a cycle on an idle machine.
test-consistency: build helm db-images
	$(MAKE) cluster-up
	$(MAKE) images
	QUIESCE_E2E=1 QUIESCE_E2E_NO_UP=1 QUIESCE_DBPROOF_CYCLES=$(DB_CLUSTER_CYCLES) QUIESCE_DBPROOF_CONTROL=$(DB_CLUSTER_CONTROL) \
		QUIESCE_DBPROOF_DBS=$(DB_CLUSTER_DBS) QUIESCE_DBPROOF_OUT=$(CURDIR)/.cache/consistency-cluster.md \
		QUIESCE_DBPROOF_DOC=$(CURDIR)/docs/consistency.md QUIESCE_DBPROOF_REV=$(VERSION) \
		KUBECONFIG=$(CLUSTER_KUBECONFIG) HELM=$(CURDIR)/$(HELM) $(GO) test -count=1 -timeout 240m -v -run TestDatabaseProof ./e2e/
	@cat $(CURDIR)/.cache/consistency-cluster.md

# test-consistency-local: the recipes of examples/databases against real
# servers on this machine (root; no cluster), table into docs/consistency.md's
# results file.
test-consistency-local:
	QUIESCE_DBPROOF=1 QUIESCE_DBPROOF_CYCLES=$(DB_PROOF_CYCLES) QUIESCE_DBPROOF_OUT=$(CURDIR)/.cache/consistency-local.md \
		$(GO) test -count=1 -timeout 60m -run TestLocalProof -v ./e2e/consistency/
	@cat $(CURDIR)/.cache/consistency-local.md
