{{/* Names and labels, the usual way. */}}

{{- define "tidemark.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-scoped name; truncated to 58 so "-etcd" still fits a 63-character DNS label. */}}
{{- define "tidemark.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 58 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 58 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 58 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "tidemark.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tidemark.labels" -}}
helm.sh/chart: {{ include "tidemark.chart" . }}
app.kubernetes.io/name: {{ include "tidemark.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Selector labels carry the component, so the Service, PDB and ServiceMonitor of the replicas
never select the bundled etcd's pod (same name and instance) and vice versa.
*/}}
{{- define "tidemark.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tidemark.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: replica
{{- end }}

{{- define "tidemark.etcd.fullname" -}}
{{- printf "%s-etcd" (include "tidemark.fullname" .) }}
{{- end }}

{{- define "tidemark.etcd.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tidemark.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: etcd
{{- end }}

{{/* The client URL of the bundled etcd, as the replicas' coordination.endpoints. */}}
{{- define "tidemark.etcd.url" -}}
{{- printf "http://%s.%s.svc:2379" (include "tidemark.etcd.fullname" .) .Release.Namespace }}
{{- end }}

{{- define "tidemark.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tidemark.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "tidemark.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* "etcd" or "standalone": what the rendered config will say. */}}
{{- define "tidemark.mode" -}}
{{- if .Values.etcd.bundled.enabled }}etcd{{ else }}{{ dig "coordination" "mode" "standalone" .Values.config }}{{ end }}
{{- end }}

{{/* The Secret the chart creates from literal values (secrets.create, for testing only). */}}
{{- define "tidemark.secretName" -}}
{{- include "tidemark.fullname" . }}
{{- end }}

{{/*
Where each credential comes from, as YAML for fromYaml: the Secret's name and keys, or {} when
not configured. Either an existing Secret or the chart's own (secrets.create, for testing only);
tidemark.checks refuses both at once.
*/}}
{{- define "tidemark.warehouseUrlRef" -}}
{{- $s := .Values.secrets }}
{{- if $s.warehouse.existingSecret }}
name: {{ $s.warehouse.existingSecret }}
key: {{ $s.warehouse.urlKey }}
{{- else if and $s.create $s.warehouseUrl }}
name: {{ include "tidemark.secretName" . }}
key: warehouse-url
{{- else }}{}
{{- end }}
{{- end }}

{{- define "tidemark.kafkaSaslRef" -}}
{{- $s := .Values.secrets }}
{{- if $s.kafkaSasl.existingSecret }}
name: {{ $s.kafkaSasl.existingSecret }}
usernameKey: {{ $s.kafkaSasl.usernameKey }}
passwordKey: {{ $s.kafkaSasl.passwordKey }}
{{- else if and $s.create $s.kafkaSaslPassword }}
name: {{ include "tidemark.secretName" . }}
usernameKey: kafka-sasl-username
passwordKey: kafka-sasl-password
{{- else }}{}
{{- end }}
{{- end }}

{{/*
The config file, from .Values.config plus what the chart itself decides: the bundled etcd's
endpoint, and the [http] section on the container's http port.
*/}}
{{- define "tidemark.config" -}}
{{- $cfg := deepCopy (.Values.config | default dict) }}
{{- if .Values.etcd.bundled.enabled }}
{{- $coordination := get $cfg "coordination" | default dict }}
{{- $_ := set $coordination "mode" "etcd" }}
{{- $_ := set $coordination "endpoints" (list (include "tidemark.etcd.url" .)) }}
{{- $_ := set $cfg "coordination" $coordination }}
{{- end }}
{{- $_ := set $cfg "http" (dict "listen" (printf "0.0.0.0:%d" (int .Values.http.port))) }}
{{- include "tidemark.toml.table" (dict "table" $cfg "path" (list)) }}
{{- end }}

{{/*
Refuses values that would render a broken or unsafe release; tidemark validate checks the rest
of the config when the pod starts (and in tests/helm/check_chart.py).
*/}}
{{- define "tidemark.checks" -}}
{{- $cfg := .Values.config | default dict }}
{{- $mode := include "tidemark.mode" . }}
{{- if and (eq $mode "standalone") (or (gt (int .Values.replicaCount) 1) .Values.autoscaling.enabled) }}
{{- fail "coordination.mode = \"standalone\" runs exactly one replica (a second one would fence the first): set etcd.bundled.enabled or config.coordination.mode = \"etcd\" with endpoints to run more" }}
{{- end }}
{{- if .Values.etcd.bundled.enabled }}
{{- if eq (dig "coordination" "mode" "etcd" $cfg) "standalone" }}
{{- fail "etcd.bundled.enabled runs the replicas in mode \"etcd\": remove config.coordination.mode = \"standalone\"" }}
{{- end }}
{{- if dig "coordination" "endpoints" (list) $cfg }}
{{- fail "etcd.bundled.enabled sets coordination.endpoints to the bundled etcd: remove config.coordination.endpoints" }}
{{- end }}
{{- end }}
{{- $url := dig "warehouse" "url" "" $cfg }}
{{- if and (not $url) (not (include "tidemark.warehouseUrlRef" . | fromYaml)) }}
{{- fail "no warehouse connection string: set secrets.warehouse.existingSecret (a Secret holding the URL) or config.warehouse.url (without a password)" }}
{{- end }}
{{- if regexMatch "://[^/@]*:[^/@]*@|(?i)password\\s*=" $url }}
{{- fail "config.warehouse.url contains a password, which would land in a ConfigMap: put the whole URL in a Secret and set secrets.warehouse.existingSecret" }}
{{- end }}
{{- range $key, $_ := dig "kafka" "properties" (dict) $cfg }}
{{- if regexMatch "(?i)password|secret" $key }}
{{- fail (printf "config.kafka.properties.%s is a credential, which would land in a ConfigMap: use secrets.kafkaSasl, or extraEnv with TIDEMARK__KAFKA__PROPERTIES__%s from a secretKeyRef" $key (upper $key)) }}
{{- end }}
{{- end }}
{{- if and .Values.secrets.create .Values.secrets.warehouseUrl .Values.secrets.warehouse.existingSecret }}
{{- fail "give secrets.warehouseUrl or secrets.warehouse.existingSecret, not both" }}
{{- end }}
{{- if and .Values.secrets.create .Values.secrets.kafkaSaslPassword .Values.secrets.kafkaSasl.existingSecret }}
{{- fail "give secrets.kafkaSaslUsername/kafkaSaslPassword or secrets.kafkaSasl.existingSecret, not both" }}
{{- end }}
{{- end }}
