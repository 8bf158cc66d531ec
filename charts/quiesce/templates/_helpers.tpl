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
{{- define "quiesce.repoEnv" -}}
- name: QUIESCE_REPO_TYPE
  value: {{ .Values.repository.type | quote }}
{{- if eq .Values.repository.type "filesystem" }}
- name: QUIESCE_REPO_PATH
  value: {{ .Values.repository.filesystem.path | quote }}
{{- else }}
- name: QUIESCE_S3_ENDPOINT
  value: {{ .Values.repository.s3.endpoint | quote }}
- name: QUIESCE_S3_BUCKET
  value: {{ .Values.repository.s3.bucket | quote }}
- name: QUIESCE_S3_PREFIX
  value: {{ .Values.repository.s3.prefix | quote }}
- name: QUIESCE_S3_REGION
  value: {{ .Values.repository.s3.region | quote }}
- name: QUIESCE_S3_INSECURE
  value: {{ .Values.repository.s3.insecure | quote }}
- name: AWS_ACCESS_KEY_ID
  valueFrom: {secretKeyRef: {name: {{ include "quiesce.secretName" . }}, key: aws-access-key-id}}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom: {secretKeyRef: {name: {{ include "quiesce.secretName" . }}, key: aws-secret-access-key}}
{{- end }}
- name: QUIESCE_REPO_PASSWORD
  valueFrom: {secretKeyRef: {name: {{ include "quiesce.secretName" . }}, key: repository-password}}
{{- end }}
