{{- /* Generated from operator/gatepass/core/durations.py by `make manifests`; edit that instead. */}}
{{/* gatepass.checkedDuration: a duration setting as it is, or fail with the operator's message for
   it. (dict "name" "operator.retention" "value" .Values.operator.retention "zero" true) */}}
{{- define "gatepass.checkedDuration" -}}
{{- $text := toString .value -}}
{{- $units := dict "ns" "1" "us" "1000" "\u00b5s" "1000" "\u03bcs" "1000" "ms" "1000000" "s" "1000000000" "m" "60000000000" "h" "3600000000000" -}}
{{- $rest := $text -}}
{{- $negative := false -}}
{{- if or (hasPrefix "-" $rest) (hasPrefix "+" $rest) -}}
{{- $negative = hasPrefix "-" $rest -}}
{{- $rest = substr 1 -1 $rest -}}
{{- end -}}
{{- $problem := "" -}}
{{- $total := 0.0 -}}
{{- if eq $rest "0" -}}
{{- else if eq $rest "" -}}
{{- $problem = printf "empty (%s)" "use ns, us, ms, s, m or h, e.g. \"90m\" or \"1h30m\"" -}}
{{- else -}}
{{- $left := $rest -}}
{{- range $token := regexFindAll "[0-9]*(\\.[0-9]*)?[^0-9.]*" $rest -1 -}}
{{- if not $problem -}}
{{- $number := regexFind "^[0-9]*(\\.[0-9]*)?" $token -}}
{{- $unit := trimPrefix $number $token -}}
{{- $whole := regexFind "^[0-9]*" $number -}}
{{- $fraction := trimPrefix "." (trimPrefix $whole $number) -}}
{{- if not $number -}}
{{- $problem = printf "expected a number at \"%s\"" $left -}}
{{- else if and (not $whole) (not $fraction) -}}
{{- $problem = "a number needs at least one digit" -}}
{{- else if not $unit -}}
{{- $problem = printf "missing unit (%s)" "use ns, us, ms, s, m or h, e.g. \"90m\" or \"1h30m\"" -}}
{{- else if not (hasKey $units $unit) -}}
{{- $problem = printf "unknown unit \"%s\" (%s)" $unit (ternary "there is no day unit, write 24h" "use ns, us, ms, s, m or h, e.g. \"90m\" or \"1h30m\"" (eq $unit "d")) -}}
{{- else -}}
{{- $total = addf $total (mulf (float64 (printf "0%s" $number)) (float64 (get $units $unit))) -}}
{{- if gt $total 9.223372036854776e+18 -}}
{{- $problem = "too long (the maximum is about 2562047h)" -}}
{{- end -}}
{{- end -}}
{{- $left = trimPrefix $token $left -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if $problem -}}
{{- else if and $negative (ge $total 1000.0) -}}
{{- $problem = ternary "must not be negative" "must be longer than zero" .zero -}}
{{- else if and (not .zero) (lt $total 1000.0) -}}
{{- $problem = "must be longer than zero" -}}
{{- end -}}
{{- if $problem -}}
{{- fail (printf "%s: %s" .name (printf "invalid duration \"%s\": %s" $text $problem)) -}}
{{- end -}}
{{- $text -}}
{{- end -}}
