package plan

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/resources"
)

// shopObjects is what a backup of namespaces shop and other stores:
// objects as read from the API (server-set metadata included, to check it
// goes), with no status except where a test needs one.
const shopObjects = `
apiVersion: v1
kind: Namespace
metadata: {name: shop, uid: ns-uid, labels: {team: a, kubernetes.io/metadata.name: shop}}
spec: {finalizers: [kubernetes]}
---
apiVersion: v1
kind: Namespace
metadata: {name: other}
---
apiVersion: v1
kind: Node
metadata: {name: node-1}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  uid: dep-uid
  resourceVersion: "812"
  generation: 3
  creationTimestamp: "2026-11-01T10:00:00Z"
  labels: {app: web}
  annotations: {deployment.kubernetes.io/revision: "2"}
  managedFields: [{manager: kubectl, operation: Apply}]
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: app, image: nginx:1.27}]}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web-5d8f7c9b
  namespace: shop
  labels: {app: web, pod-template-hash: 5d8f7c9b}
  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: web, uid: dep-uid, controller: true, blockOwnerDeletion: true}]
spec:
  replicas: 1
  selector: {matchLabels: {app: web, pod-template-hash: 5d8f7c9b}}
  template:
    metadata: {labels: {app: web, pod-template-hash: 5d8f7c9b}}
    spec: {containers: [{name: app, image: nginx:1.27}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: web-5d8f7c9b-x2k4p
  namespace: shop
  uid: pod-uid-web
  resourceVersion: "900"
  finalizers: [example.com/protect]
  labels: {app: web, pod-template-hash: 5d8f7c9b}
  annotations:
    init.hook.restore.velero.io/container-image: busybox:1.37
    init.hook.restore.velero.io/container-name: fix-perms
    init.hook.restore.velero.io/command: '["/bin/sh","-c","chown -R 101:101 /data"]'
    post.hook.restore.velero.io/command: '["/bin/sh","-c","touch /data/migrated"]'
    post.hook.restore.velero.io/container: app
    post.hook.restore.velero.io/wait-for-ready: "true"
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-5d8f7c9b, uid: rs-uid, controller: true}]
spec:
  nodeName: node-1
  priority: 0
  serviceAccountName: web
  initContainers:
  - name: setup
    image: busybox:1.37
    command: [/bin/true]
    volumeMounts: [{name: kube-api-access-7xq2z, mountPath: /var/run/secrets/kubernetes.io/serviceaccount, readOnly: true}]
  containers:
  - name: app
    image: nginx:1.27
    volumeMounts:
    - {name: data, mountPath: /data}
    - {name: cache, mountPath: /cache}
    - {name: kube-api-access-7xq2z, mountPath: /var/run/secrets/kubernetes.io/serviceaccount, readOnly: true}
  - name: sidecar
    image: busybox:1.37
    volumeMounts: [{name: kube-api-access-7xq2z, mountPath: /var/run/secrets/kubernetes.io/serviceaccount, readOnly: true}]
  volumes:
  - {name: data, persistentVolumeClaim: {claimName: web-data}}
  - {name: cache, emptyDir: {}}
  - name: kube-api-access-7xq2z
    projected: {sources: [{serviceAccountToken: {path: token, expirationSeconds: 3607}}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: web-5d8f7c9b-done1
  namespace: shop
  labels: {app: web}
spec: {containers: [{name: app, image: nginx:1.27}]}
status: {phase: Succeeded}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: shop, labels: {app: db}}
spec:
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: postgres, image: postgres:17}]}
  volumeClaimTemplates: [{metadata: {name: data}, spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}}]
---
apiVersion: v1
kind: Pod
metadata:
  name: db-0
  namespace: shop
  labels: {app: db, apps.kubernetes.io/pod-index: "0"}
  annotations:
    post.hook.restore.velero.io/command: '["psql","-c","select 1"]'
    post.hook.restore.velero.io/wait-timeout: 2m
  ownerReferences: [{apiVersion: apps/v1, kind: StatefulSet, name: db, uid: sts-uid, controller: true}]
spec:
  nodeName: node-2
  hostname: db-0
  subdomain: db
  containers:
  - name: postgres
    image: postgres:17
    volumeMounts: [{name: data, mountPath: /var/lib/postgresql/data}, {name: tmp, mountPath: /tmp}]
  volumes:
  - {name: data, persistentVolumeClaim: {claimName: data-db-0}}
  - {name: tmp, emptyDir: {}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: data-db-0
  namespace: shop
  labels: {app: db}
  annotations:
    pv.kubernetes.io/bind-completed: "yes"
    pv.kubernetes.io/bound-by-controller: "yes"
    volume.kubernetes.io/selected-node: node-2
    volume.kubernetes.io/storage-provisioner: rancher.io/local-path
  finalizers: [kubernetes.io/pvc-protection]
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}, storageClassName: fast, volumeName: pvc-db0}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: web-data, namespace: shop, labels: {app: web}}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}, storageClassName: fast, volumeName: pvc-web}
---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: pvc-db0
  annotations: {pv.kubernetes.io/bound-by-controller: "yes", pv.kubernetes.io/provisioned-by: rancher.io/local-path}
  finalizers: [kubernetes.io/pv-protection]
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: fast
  hostPath: {path: /var/local-path/pvc-db0}
  claimRef: {apiVersion: v1, kind: PersistentVolumeClaim, namespace: shop, name: data-db-0, uid: pvc-uid, resourceVersion: "77"}
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: pvc-web}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  storageClassName: fast
  hostPath: {path: /var/local-path/pvc-web}
  claimRef: {namespace: shop, name: web-data, uid: pvc-uid-2}
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: pvc-elsewhere}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  hostPath: {path: /x}
  claimRef: {namespace: billing, name: ledger}
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: pv-free}
spec: {capacity: {storage: 1Gi}, accessModes: [ReadWriteOnce], hostPath: {path: /y}}
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: fast}
provisioner: rancher.io/local-path
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop, labels: {app: web}}
spec:
  type: LoadBalancer
  clusterIP: 10.96.12.7
  clusterIPs: [10.96.12.7]
  externalTrafficPolicy: Local
  healthCheckNodePort: 31999
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30080}, {name: https, port: 443, nodePort: 30443}]
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: shop, labels: {app: db}}
spec: {clusterIP: None, clusterIPs: [None], selector: {app: db}, ports: [{port: 5432}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: web-config, namespace: shop, labels: {app: web}}
data: {nginx.conf: "worker_processes 1;"}
---
apiVersion: v1
kind: Secret
metadata: {name: web-secret, namespace: shop, labels: {app: web}}
type: Opaque
data: {password: c2VjcmV0}
---
apiVersion: v1
kind: Secret
metadata:
  name: web-token-q8n2d
  namespace: shop
  annotations: {kubernetes.io/service-account.name: web}
type: kubernetes.io/service-account-token
data: {token: dG9rZW4=}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: web, namespace: shop, labels: {app: web}}
secrets: [{name: web-token-q8n2d}, {name: registry-creds}]
---
apiVersion: v1
kind: Event
metadata: {name: web-5d8f7c9b-x2k4p.17a3c, namespace: shop}
involvedObject: {kind: Pod, name: web-5d8f7c9b-x2k4p}
reason: Scheduled
---
apiVersion: events.k8s.io/v1
kind: Event
metadata: {name: web-5d8f7c9b-x2k4p.17a3d, namespace: shop}
reason: Pulled
---
apiVersion: v1
kind: Endpoints
metadata: {name: web, namespace: shop}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-abc12, namespace: shop}
addressType: IPv4
endpoints: []
---
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: web-leader, namespace: shop}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: web-reader, namespace: shop, labels: {app: web}}
rules: [{apiGroups: [""], resources: [configmaps], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: web-reader, namespace: shop, labels: {app: web}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: web-reader}
subjects:
- {kind: ServiceAccount, name: web, namespace: shop}
- {kind: ServiceAccount, name: monitor, namespace: monitoring}
- {kind: User, apiGroup: rbac.authorization.k8s.io, name: alice}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: widget-viewer, labels: {app: web}}
rules: [{apiGroups: [example.com], resources: [widgets], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: widget-viewer}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: widget-viewer}
subjects: [{kind: ServiceAccount, name: web, namespace: shop}]
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: widget-check}
webhooks: []
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets, singular: widget}
  scope: Namespaced
  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}]
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: blue, namespace: shop, labels: {app: web}}
spec: {size: 3}
---
apiVersion: batch/v1
kind: Job
metadata: {name: migrate, namespace: shop, labels: {app: web}}
spec:
  selector: {matchLabels: {batch.kubernetes.io/controller-uid: job-uid}}
  template:
    metadata:
      labels: {app: web, controller-uid: job-uid, batch.kubernetes.io/controller-uid: job-uid, job-name: migrate, batch.kubernetes.io/job-name: migrate}
    spec: {restartPolicy: Never, containers: [{name: migrate, image: busybox:1.37}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: migrate-7xk2p
  namespace: shop
  labels: {batch.kubernetes.io/controller-uid: job-uid, job-name: migrate}
  ownerReferences: [{apiVersion: batch/v1, kind: Job, name: migrate, uid: job-uid, controller: true}]
spec: {restartPolicy: Never, containers: [{name: migrate, image: busybox:1.37}]}
---
apiVersion: quiesce.dev/v1alpha1
kind: Backup
metadata: {name: nightly-1, namespace: shop}
---
apiVersion: velero.io/v1
kind: Restore
metadata: {name: old, namespace: shop}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: other-config, namespace: other, labels: {app: other}}
data: {a: b}
---
apiVersion: v1
kind: Pod
metadata:
  name: kube-apiserver-node-1
  namespace: other
  annotations: {kubernetes.io/config.mirror: abc123}
spec: {nodeName: node-1, containers: [{name: kube-apiserver, image: registry.k8s.io/kube-apiserver:v1.37.2}]}
`

// kinds maps each fixture kind to its resource and scope.
var kinds = map[string]struct {
	resource   string
	namespaced bool
}{
	"Namespace": {"namespaces", false}, "Node": {"nodes", false}, "Deployment": {"deployments", true},
	"ReplicaSet": {"replicasets", true}, "Pod": {"pods", true}, "StatefulSet": {"statefulsets", true},
	"PersistentVolumeClaim": {"persistentvolumeclaims", true}, "PersistentVolume": {"persistentvolumes", false},
	"StorageClass": {"storageclasses", false}, "Service": {"services", true}, "ConfigMap": {"configmaps", true},
	"Secret": {"secrets", true}, "ServiceAccount": {"serviceaccounts", true}, "Event": {"events", true},
	"Endpoints": {"endpoints", true}, "EndpointSlice": {"endpointslices", true}, "Lease": {"leases", true},
	"Role": {"roles", true}, "RoleBinding": {"rolebindings", true}, "ClusterRole": {"clusterroles", false},
	"ClusterRoleBinding": {"clusterrolebindings", false}, "ValidatingWebhookConfiguration": {"validatingwebhookconfigurations", false},
	"CustomResourceDefinition": {"customresourcedefinitions", false}, "Widget": {"widgets", true},
	"Job": {"jobs", true}, "Backup": {"backups", true}, "Restore": {"restores", true},
}

// items parses multi-document YAML into stored items.
func items(t testing.TB, docs string) []resources.Item {
	t.Helper()
	var out []resources.Item
	for _, d := range strings.Split(docs, "\n---\n") {
		if strings.TrimSpace(d) == "" {
			continue
		}
		var m map[string]any
		if err := yaml.Unmarshal([]byte(d), &m); err != nil {
			t.Fatalf("fixture: %v\n%s", err, d)
		}
		u := &unstructured.Unstructured{Object: m}
		k, ok := kinds[u.GetKind()]
		if !ok {
			t.Fatalf("fixture: kind %s not in kinds", u.GetKind())
		}
		gv, err := schema.ParseGroupVersion(u.GetAPIVersion())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, resources.Item{Group: gv.Group, Version: gv.Version, Resource: k.resource,
			Kind: u.GetKind(), Namespaced: k.namespaced, Object: u})
	}
	return out
}

// shopDoc is a backup document of shopObjects whose status has the
// volume snapshots of the two app pods.
func shopDoc(t testing.TB) *resources.Document {
	return &resources.Document{
		FormatVersion: resources.FormatVersion,
		Backup: api.Backup{
			ObjectMeta: metaName("quiesce", "nightly-1"),
			Status:     api.BackupStatus{Phase: api.BackupPhaseCompleted},
		},
		Pods: []api.PodResult{
			{Namespace: "shop", Name: "web-5d8f7c9b-x2k4p", Volumes: []api.VolumeResult{
				{Name: "data", PVC: "web-data", SnapshotID: "k1web"},
				{Name: "cache", SnapshotID: "k2cache"},
				{Name: "scratch", SnapshotID: "k3gone"}, // no longer in the pod spec
			}},
			{Namespace: "shop", Name: "db-0", Volumes: []api.VolumeResult{
				{Name: "data", PVC: "data-db-0", SnapshotID: "k4db"},
				{Name: "tmp", Error: "open /tmp/x: permission denied"},
			}},
			{Namespace: "gone", Name: "ghost", Volumes: []api.VolumeResult{{Name: "v", SnapshotID: "k5"}}},
		},
		CollectedAt: time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC),
		Items:       items(t, shopObjects),
	}
}

func testOptions() Options {
	return Options{RestoreName: "r1", RestoreUID: "r1-uid", HelperImage: "ghcr.io/quiesce-dev/quiesce:v0.3.0",
		HelperPullPolicy: corev1.PullIfNotPresent, Timeout: time.Hour}
}
