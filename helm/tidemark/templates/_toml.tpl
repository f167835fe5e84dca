{{/*
A TOML writer for the config file. Helm's toToml is not usable here: values reach templates
with every number as a float64, and toToml writes `max_rows = 10000.0`, which tidemark rejects
for an integer key. This writer prints integral numbers as integers and everything else as
TOML expects: strings and non-bare keys as JSON strings (JSON's escapes are TOML's), maps as
[tables], lists of maps as [[arrays of tables]], null values left out (TOML has no null).
Keys come out sorted, so the same values always give the same file (and config checksum).
*/}}

{{/* A table's key/value lines, then its sub-tables. Argument: dict "table" map "path" list. */}}
{{- define "tidemark.toml.table" -}}
{{- $path := .path }}
{{- range $key, $value := .table }}
{{- if not (or (kindIs "map" $value) (include "tidemark.toml.isTableArray" $value) (kindIs "invalid" $value)) }}
{{ include "tidemark.toml.key" $key }} = {{ include "tidemark.toml.value" $value }}
{{- end }}
{{- end }}
{{- range $key, $value := .table }}
{{- $sub := append $path $key }}
{{- if kindIs "map" $value }}

[{{ include "tidemark.toml.path" $sub }}]
{{- include "tidemark.toml.table" (dict "table" $value "path" $sub) }}
{{- else if include "tidemark.toml.isTableArray" $value }}
{{- range $item := $value }}

[[{{ include "tidemark.toml.path" $sub }}]]
{{- include "tidemark.toml.table" (dict "table" $item "path" $sub) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* "true" for a non-empty list whose items are all maps. */}}
{{- define "tidemark.toml.isTableArray" -}}
{{- if and (kindIs "slice" .) (gt (len .) 0) }}
{{- $all := true }}
{{- range . }}{{ if not (kindIs "map" .) }}{{ $all = false }}{{ end }}{{ end }}
{{- if $all }}true{{ end }}
{{- end }}
{{- end }}

{{- define "tidemark.toml.key" -}}
{{- if regexMatch "^[A-Za-z0-9_-]+$" . }}{{ . }}{{ else }}{{ toJson . }}{{ end }}
{{- end }}

{{- define "tidemark.toml.path" -}}
{{- $keys := list }}
{{- range . }}{{ $keys = append $keys (include "tidemark.toml.key" .) }}{{ end }}
{{- join "." $keys }}
{{- end }}

{{/* An inline value: scalar, array, or (inside an array) inline table. */}}
{{- define "tidemark.toml.value" -}}
{{- if kindIs "string" . }}{{ toJson . }}
{{- else if kindIs "bool" . }}{{ . }}
{{- else if kindIs "float64" . }}
{{- /* Integral and exact (|x| < 2^53): an integer; else a float, e.g. 0.5 or 1e+21. */}}
{{- if and (eq (floor .) .) (lt . 9007199254740992.0) (gt . -9007199254740992.0) }}{{ printf "%d" (int64 .) }}
{{- else }}{{ toJson . }}{{ end }}
{{- else if or (kindIs "int" .) (kindIs "int64" .) }}{{ printf "%d" . }}
{{- else if kindIs "slice" . }}
{{- $items := list }}
{{- range . }}{{ $items = append $items (include "tidemark.toml.value" .) }}{{ end }}
{{- printf "[%s]" (join ", " $items) }}
{{- else if kindIs "map" . }}
{{- $pairs := list }}
{{- range $k, $v := . }}{{ if not (kindIs "invalid" $v) }}{{ $pairs = append $pairs (printf "%s = %s" (include "tidemark.toml.key" $k) (include "tidemark.toml.value" $v)) }}{{ end }}{{ end }}
{{- printf "{ %s }" (join ", " $pairs) }}
{{- else }}
{{- fail (printf "config: cannot write %v (%s) as TOML" . (kindOf .)) }}
{{- end }}
{{- end }}
