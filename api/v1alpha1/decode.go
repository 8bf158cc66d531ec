package v1alpha1

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// VeleroAPIVersion is Velero's API version; its Backup and Schedule
// manifests decode into Backup unchanged, fields quiesce does not act on
// (storageLocation, snapshotVolumes, ...) being ignored.
const VeleroAPIVersion = "velero.io/v1"

// manifestKind returns the kind of a manifest of our API version or
// Velero's, the two a decoder accepts.
func manifestKind(data []byte) (string, error) {
	var head metav1.TypeMeta
	if err := yaml.Unmarshal(data, &head); err != nil {
		return "", fmt.Errorf("manifest: %w", err)
	}
	if head.APIVersion != VeleroAPIVersion && head.APIVersion != GroupVersion.String() {
		return "", fmt.Errorf("manifest apiVersion %q: want %s or %s", head.APIVersion, GroupVersion, VeleroAPIVersion)
	}
	return head.Kind, nil
}

// DecodeBackup reads one Backup manifest, ours or Velero's, or a Schedule
// (Velero's), whose spec.template is the Backup spec. The result has our
// apiVersion and kind.
func DecodeBackup(data []byte) (*Backup, error) {
	kind, err := manifestKind(data)
	if err != nil {
		return nil, err
	}
	var b Backup
	switch kind {
	case "Backup":
		if err := yaml.Unmarshal(data, &b); err != nil {
			return nil, manifestError("backup", data, err)
		}
	case "Schedule":
		var s struct {
			Metadata metav1.ObjectMeta `json:"metadata"`
			Spec     struct {
				Template BackupSpec `json:"template"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal(data, &s); err != nil {
			return nil, manifestError("schedule", data, err)
		}
		b.ObjectMeta = metav1.ObjectMeta{Name: s.Metadata.Name, Namespace: s.Metadata.Namespace, Labels: s.Metadata.Labels}
		b.Spec = s.Spec.Template
	default:
		return nil, fmt.Errorf("manifest kind %q: want Backup or Schedule", kind)
	}
	b.APIVersion, b.Kind = GroupVersion.String(), "Backup"
	b.Status = BackupStatus{}
	b.ResourceVersion, b.UID = "", ""
	return &b, nil
}

// DecodeRestore reads one Restore manifest, ours or Velero's. The result has
// our apiVersion and kind; fields quiesce does not act on are ignored.
func DecodeRestore(data []byte) (*Restore, error) {
	kind, err := manifestKind(data)
	if err != nil {
		return nil, err
	}
	if kind != "Restore" {
		return nil, fmt.Errorf("manifest kind %q: want Restore", kind)
	}
	var r Restore
	if err := yaml.Unmarshal(data, &r); err != nil {
		return nil, manifestError("restore", data, err)
	}
	if r.Spec.BackupName == "" {
		return nil, fmt.Errorf("restore manifest %s: spec.backupName is empty: name the Backup to restore", r.Name)
	}
	r.APIVersion, r.Kind = GroupVersion.String(), "Restore"
	r.Status = RestoreStatus{}
	r.ResourceVersion, r.UID = "", ""
	return &r, nil
}

// durationFields are the JSON names of the metav1.Duration fields of the
// Backup, Schedule and Restore specs (spec hooks included).
var durationFields = map[string]bool{"ttl": true, "maxFreeze": true, "timeout": true, "execTimeout": true, "waitTimeout": true}

// manifestError turns a decode error into one naming the object and the
// field, with its index path ("spec.hooks.resources[0].pre[0].exec.timeout"):
// the JSON decoder names neither (and for a duration such as an unquoted
// "timeout: 30" or a quoted "30" without a unit, not even the field). An
// error it cannot place is returned wrapped as it is.
func manifestError(kind string, data []byte, err error) error {
	var doc map[string]any
	if j, jerr := yaml.YAMLToJSON(data); jerr == nil {
		_ = json.Unmarshal(j, &doc)
	}
	meta, _ := doc["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	if ns, _ := meta["namespace"].(string); ns != "" {
		name = ns + "/" + name
	}
	object := kind + " manifest"
	if name != "" {
		object = kind + " " + name
	}
	if p, ok := badDuration(doc["spec"], "spec"); ok {
		return fmt.Errorf("%s: %s", object, p)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		if path, ok := findPath(doc, strings.Split(te.Field, "."), "", te.Value); ok {
			return fmt.Errorf("%s: %s: a JSON %s where a %s is expected (fix the value's type; quote it if it is a string)", object, path, te.Value, te.Type)
		}
	}
	return fmt.Errorf("%s manifest: %w", kind, err)
}

// badDuration finds the first duration field under v whose value is not a
// Go duration string, and says how to write it.
func badDuration(v any, path string) (string, bool) {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := path + "." + k
			if durationFields[k] && v[k] != nil {
				switch d := v[k].(type) {
				case string:
					if _, err := time.ParseDuration(d); err != nil {
						fix := `use e.g. "30s", "5m" or "1h30m"`
						if _, nerr := strconv.ParseFloat(d, 64); nerr == nil {
							fix = fmt.Sprintf("use e.g. %q", d+"s")
						}
						return fmt.Sprintf("%s=%q: not a duration (%s)", p, d, fix), true
					}
					continue
				case float64:
					n := strconv.FormatFloat(d, 'f', -1, 64)
					return fmt.Sprintf("%s=%s: not a duration (write it quoted, with a unit: %q)", p, n, n+"s"), true
				default:
					return fmt.Sprintf("%s: not a duration (write a quoted string with a unit, e.g. \"30s\")", p), true
				}
			}
			if s, ok := badDuration(v[k], p); ok {
				return s, true
			}
		}
	case []any:
		for i, e := range v {
			if s, ok := badDuration(e, fmt.Sprintf("%s[%d]", path, i)); ok {
				return s, true
			}
		}
	}
	return "", false
}

// findPath finds, in a decoded JSON document, the first value at the dotted
// field path (which has no indices: every element of a list is tried) of
// the JSON type named as in json.UnmarshalTypeError.Value ("number",
// "string", "bool", "array", "object"), and returns its path with indices.
func findPath(v any, fields []string, path, want string) (string, bool) {
	if list, ok := v.([]any); ok {
		for i, e := range list {
			if p, ok := findPath(e, fields, fmt.Sprintf("%s[%d]", path, i), want); ok {
				return p, true
			}
		}
		return "", false
	}
	if len(fields) == 0 {
		first, _, _ := strings.Cut(want, " ") // "number 1e400"
		return path, jsonType(v) == first
	}
	m, ok := v.(map[string]any)
	if !ok {
		return "", false
	}
	next, ok := m[fields[0]]
	if !ok {
		return "", false
	}
	p := fields[0]
	if path != "" {
		p = path + "." + fields[0]
	}
	return findPath(next, fields[1:], p, want)
}

func jsonType(v any) string {
	switch v.(type) {
	case float64:
		return "number"
	case string:
		return "string"
	case bool:
		return "bool"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "null"
}
