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
{{- end }}
{{- end }}
{{- define "quiesce.repoEnv" -}}
- name: QUIESCE_REPO_PASSWORD
  valueFrom: {secretKeyRef: {name: {{ include "quiesce.secretName" . }}, key: repository-password}}
{{- if ne .Values.repository.type "filesystem" }}
- name: AWS_ACCESS_KEY_ID
  valueFrom: {secretKeyRef: {name: {{ include "quiesce.secretName" . }}, key: aws-access-key-id}}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom: {secretKeyRef: {name: {{ include "quiesce.secretName" . }}, key: aws-secret-access-key}}
{{- end }}
{{- end }}
