{{/* Labels on every object. Names are fixed (gatepass-*): one Gatepass per cluster. */}}
{{- define "gatepass.labels" -}}
app.kubernetes.io/name: gatepass
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{/* The operator's pods, as the Services and the PodDisruptionBudget select them. */}}
{{- define "gatepass.selectorLabels" -}}
app.kubernetes.io/name: gatepass
app.kubernetes.io/component: operator
{{- end }}

{{/* Annotations of the webhook configurations: cert-manager's CA injection, if it issues. */}}
{{- define "gatepass.webhookAnnotations" -}}
{{- if eq .Values.webhook.certificates "cert-manager" -}}
cert-manager.io/inject-ca-from: {{ .Release.Namespace }}/gatepass-webhook
{{- end }}
{{- end }}

{{- define "gatepass.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}
{{- end }}
