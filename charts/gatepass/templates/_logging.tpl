{{/* The operator's log flags from operator.logFormat and operator.logLevel (operator.verbose: debug), each only
     when it is not the operator's default, so that the default Deployment is the kustomize base's. */}}
{{- define "gatepass.logArgs" -}}
{{- $level := ternary "debug" .Values.operator.logLevel .Values.operator.verbose -}}
{{- if ne .Values.operator.logFormat "text" }}
- --log-format={{ .Values.operator.logFormat }}
{{- end }}
{{- if ne $level "info" }}
- --log-level={{ $level }}
{{- end }}
{{- end }}
