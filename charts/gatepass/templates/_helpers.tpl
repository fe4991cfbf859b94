{{/* The name of the chart's objects: gatepass, or nameOverride. */}}
{{- define "gatepass.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* What every object's name starts with: fullnameOverride, else gatepass.name (gatepass-operator,
gatepass-webhook, ...). Not the release's name: the CRDs and the webhook configurations gatepass.dev are
cluster-wide, so there is one Gatepass per cluster whatever the release is called. */}}
{{- define "gatepass.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- include "gatepass.name" . | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* The operator's ServiceAccount: serviceAccount.name, else <fullname>-operator when the chart creates it. */}}
{{- define "gatepass.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (printf "%s-operator" (include "gatepass.fullname" .)) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name: the ServiceAccount to run as, when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The recommended labels on every object; each object adds app.kubernetes.io/component. */}}
{{- define "gatepass.labels" -}}
app.kubernetes.io/name: {{ include "gatepass.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: gatepass
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{/* The operator's pods, as the Services and the PodDisruptionBudget select them. */}}
{{- define "gatepass.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gatepass.name" . }}
app.kubernetes.io/component: operator
{{- end }}

{{/* Annotations of the webhook configurations: cert-manager's CA injection, if it issues. */}}
{{- define "gatepass.webhookAnnotations" -}}
{{- if eq .Values.webhook.certificates "cert-manager" -}}
cert-manager.io/inject-ca-from: {{ .Release.Namespace }}/{{ include "gatepass.fullname" . }}-webhook
{{- end }}
{{- end }}

{{- define "gatepass.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}
{{- end }}

{{/* The in-cluster Web UI's pods (ui.enabled), as its Service selects them. */}}
{{- define "gatepass.uiSelectorLabels" -}}
app.kubernetes.io/name: {{ include "gatepass.name" . }}
app.kubernetes.io/component: ui
{{- end }}
