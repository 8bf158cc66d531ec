{{- define "quiesce.fullname" -}}{{ .Release.Name }}{{- end }}
{{- define "quiesce.labels" -}}
app.kubernetes.io/name: quiesce
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
{{- define "quiesce.image" -}}{{ .Values.image.repository }}:{{ .Values.image.tag }}{{- end }}
{{- define "quiesce.secretName" -}}
{{- if .Values.repository.existingSecret }}{{ .Values.repository.existingSecret }}{{ else }}{{ .Release.Name }}-repository{{ end }}
{{- end }}
{{- /* quiesce.s3CredentialsSecret: the Secret holding the S3 keys. */ -}}
{{- define "quiesce.s3CredentialsSecret" -}}
{{- if .Values.repository.s3.credentialsSecret }}{{ .Values.repository.s3.credentialsSecret }}{{ else }}{{ include "quiesce.secretName" . }}{{ end }}
{{- end }}
{{- /* quiesce.s3CADir: where the S3 CA is mounted. */ -}}
{{- define "quiesce.s3CADir" -}}/etc/quiesce-s3-ca{{- end }}
{{- /* quiesce.validateRepository fails the render on settings that could never work. */ -}}
{{- define "quiesce.validateRepository" -}}
{{- $r := .Values.repository }}
{{- if not (has $r.type (list "filesystem" "s3")) }}
{{- fail (printf "repository.type=%q: use filesystem or s3" $r.type) }}
{{- end }}
{{- if eq $r.type "s3" }}
{{- if or (not $r.s3.endpoint) (not $r.s3.bucket) }}
{{- fail "repository.type=s3 needs repository.s3.endpoint (host[:port]) and repository.s3.bucket" }}
{{- end }}
{{- if or (hasPrefix "http://" $r.s3.endpoint) (hasPrefix "https://" $r.s3.endpoint) }}
{{- fail (printf "repository.s3.endpoint=%q: give host[:port] without a scheme (TLS unless repository.s3.insecure)" $r.s3.endpoint) }}
{{- end }}
{{- if and (not $r.existingSecret) (not $r.s3.credentialsSecret) (or (not $r.s3.accessKeyID) (not $r.s3.secretAccessKey)) }}
{{- fail "repository.type=s3 needs the S3 keys: set repository.s3.credentialsSecret (or repository.existingSecret) to a Secret with the keys aws-access-key-id and aws-secret-access-key, or set repository.s3.accessKeyID and repository.s3.secretAccessKey" }}
{{- end }}
{{- if and $r.s3.ca.configMap $r.s3.ca.secret }}
{{- fail "repository.s3.ca: set configMap or secret, not both" }}
{{- end }}
{{- if and (or $r.s3.ca.configMap $r.s3.ca.secret) (not $r.s3.ca.key) }}
{{- fail "repository.s3.ca.key is empty: name the key holding the PEM CA (e.g. ca.crt)" }}
{{- end }}
{{- if and $r.s3.insecure (or $r.s3.ca.configMap $r.s3.ca.secret) }}
{{- fail "repository.s3.insecure (plain HTTP) and repository.s3.ca (a CA for TLS) contradict: unset one" }}
{{- end }}
{{- end }}
{{- end }}
{{- define "quiesce.repoArgs" -}}
{{- if eq .Values.repository.type "filesystem" }}
- --repo={{ .Values.repository.filesystem.path }}
{{- else }}
- --s3-endpoint={{ .Values.repository.s3.endpoint }}
- --s3-bucket={{ .Values.repository.s3.bucket }}
- --s3-prefix={{ .Values.repository.s3.prefix }}
- --s3-region={{ .Values.repository.s3.region }}
{{- if .Values.repository.s3.insecure }}
- --s3-disable-tls
{{- end }}
{{- if or .Values.repository.s3.ca.configMap .Values.repository.s3.ca.secret }}
- --s3-ca-file={{ include "quiesce.s3CADir" . }}/{{ .Values.repository.s3.ca.key }}
{{- end }}
{{- end }}
{{- end }}
{{- define "quiesce.repoEnv" -}}
- name: QUIESCE_REPO_PASSWORD
  valueFrom: {secretKeyRef: {name: {{ include "quiesce.secretName" . }}, key: repository-password}}
{{- if ne .Values.repository.type "filesystem" }}
- name: AWS_ACCESS_KEY_ID
  valueFrom: {secretKeyRef: {name: {{ include "quiesce.s3CredentialsSecret" . }}, key: aws-access-key-id}}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom: {secretKeyRef: {name: {{ include "quiesce.s3CredentialsSecret" . }}, key: aws-secret-access-key}}
{{- end }}
{{- end }}
{{- /* quiesce.repoMounts and quiesce.repoVolumes: what a container that
opens the repository mounts (the filesystem repository's host directory, or
the S3 CA). */ -}}
{{- define "quiesce.repoMounts" -}}
{{- if eq .Values.repository.type "filesystem" }}
- {name: repository, mountPath: {{ .Values.repository.filesystem.path }}}
{{- else if or .Values.repository.s3.ca.configMap .Values.repository.s3.ca.secret }}
- {name: s3-ca, mountPath: {{ include "quiesce.s3CADir" . }}, readOnly: true}
{{- end }}
{{- end }}
{{- define "quiesce.repoVolumes" -}}
{{- if eq .Values.repository.type "filesystem" }}
- name: repository
  hostPath: {path: {{ .Values.repository.filesystem.path }}, type: DirectoryOrCreate}
{{- else if .Values.repository.s3.ca.configMap }}
- name: s3-ca
  configMap: {name: {{ .Values.repository.s3.ca.configMap }}, items: [{key: {{ .Values.repository.s3.ca.key }}, path: {{ .Values.repository.s3.ca.key }}}]}
{{- else if .Values.repository.s3.ca.secret }}
- name: s3-ca
  secret: {secretName: {{ .Values.repository.s3.ca.secret }}, items: [{key: {{ .Values.repository.s3.ca.key }}, path: {{ .Values.repository.s3.ca.key }}}]}
{{- end }}
{{- end }}
{{- /* quiesce.agentMountPropagation: the agent's and the guard's propagation
on the kubelet's pods directory. None is there to prove the agent's
mount check (a CSI or local volume mounted after the agent started is then
not seen, and its pod fails with VolumeNotMounted); Bidirectional would let
the agent's mounts leak into the node, which it never needs. */ -}}
{{- define "quiesce.agentMountPropagation" -}}
{{- $p := .Values.agent.mountPropagation | default "HostToContainer" }}
{{- if not (has $p (list "HostToContainer" "None")) }}
{{- fail (printf "agent.mountPropagation=%q: use HostToContainer (the default: volumes mounted after the agent started are seen) or None" $p) }}
{{- end }}
{{- $p }}
{{- end }}
