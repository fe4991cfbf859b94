{{/* The operator's log flags, from operator.logFormat and operator.logLevel (operator.verbose: debug). */}}
{{- define "gatepass.logArgs" -}}
- --log-format={{ .Values.operator.logFormat }}
- --log-level={{ if .Values.operator.verbose }}debug{{ else }}{{ .Values.operator.logLevel }}{{ end }}
{{- end }}
