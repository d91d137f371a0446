{{/* Chart name, possibly overridden. */}}
{{- define "domain-monitor.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name of the release's objects: the release name, plus the chart
name unless the release name already contains it. */}}
{{- define "domain-monitor.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Name of cluster-scoped objects: unique per release namespace, so that
the chart can be installed in several namespaces. */}}
{{- define "domain-monitor.clusterName" -}}
{{- printf "%s-%s" (include "domain-monitor.fullname" .) .Release.Namespace | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "domain-monitor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "domain-monitor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "domain-monitor.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "domain-monitor.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "domain-monitor.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "domain-monitor.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The secret settings: value key -> environment variable (and Secret key). */}}
{{- define "domain-monitor.secretKeys" -}}
apiAuthToken: API_AUTH_TOKEN
sentryDsn: SENTRY_DSN
registrarApiKey: REGISTRAR_API_KEY
registrarApiSecret: REGISTRAR_API_SECRET
otelExporterOtlpHeaders: OTEL_EXPORTER_OTLP_HEADERS
{{- end }}

{{/* Name of the Secret holding the secret settings, or "" when there is none. */}}
{{- define "domain-monitor.secretName" -}}
{{- if .Values.secrets.existingSecret }}
{{- .Values.secrets.existingSecret }}
{{- else }}
{{- $any := false }}
{{- range $key, $_ := include "domain-monitor.secretKeys" . | fromYaml }}
{{- if index $.Values.secrets $key }}{{ $any = true }}{{ end }}
{{- end }}
{{- if $any }}{{ include "domain-monitor.fullname" . }}{{ end }}
{{- end }}
{{- end }}

{{/* The OTEL settings: value key -> environment variable. */}}
{{- define "domain-monitor.otelKeys" -}}
endpoint: OTEL_EXPORTER_OTLP_ENDPOINT
metricsEndpoint: OTEL_EXPORTER_OTLP_METRICS_ENDPOINT
tracesEndpoint: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
sdkDisabled: OTEL_SDK_DISABLED
protocol: OTEL_EXPORTER_OTLP_PROTOCOL
timeout: OTEL_EXPORTER_OTLP_TIMEOUT
serviceName: OTEL_SERVICE_NAME
resourceAttributes: OTEL_RESOURCE_ATTRIBUTES
metricsExporter: OTEL_METRICS_EXPORTER
tracesExporter: OTEL_TRACES_EXPORTER
metricExportInterval: OTEL_METRIC_EXPORT_INTERVAL
tracesSampler: OTEL_TRACES_SAMPLER
tracesSamplerArg: OTEL_TRACES_SAMPLER_ARG
{{- end }}

{{/* One setting as the string its environment variable holds: lists are
joined with commas, maps become sorted key=value pairs, numbers are written
without an exponent. */}}
{{- define "domain-monitor.envValue" -}}
{{- if kindIs "slice" . }}
{{- join "," . }}
{{- else if kindIs "map" . }}
{{- $pairs := list }}
{{- range $k, $v := . }}{{ $pairs = append $pairs (printf "%s=%v" $k $v) }}{{ end }}
{{- join "," $pairs }}
{{- else if kindIs "float64" . }}
{{- if eq (float64 (int64 .)) . }}{{ int64 . }}{{ else }}{{ . }}{{ end }}
{{- else }}
{{- toString . }}
{{- end }}
{{- end }}

{{/* The operator's rights where it watches MonitoredDomains (every namespace,
or watchNamespace). */}}
{{- define "domain-monitor.watchRules" -}}
# list and watch: the controller and the shard labeller watch the resources;
# the start-up check and the domain list sync list them. patch: the shard
# label, and a synced domain's priority. No get, update or delete here.
- apiGroups: ["domainmonitor.io"]
  resources: ["monitoreddomains"]
  verbs: ["list", "watch", "patch"]
# The status is written with server-side apply (a patch) only.
- apiGroups: ["domainmonitor.io"]
  resources: ["monitoreddomains/status"]
  verbs: ["patch"]
# Events about a resource go to its namespace (events.k8s.io/v1). No patch:
# the event recorder patches only a repeat of an event about the same version
# of a resource, and every event the operator publishes follows a status
# write, which makes a new version.
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create"]
{{- if .Values.config.domainHealthChecks }}
# DomainHealthChecks (config.domainHealthChecks): list and watch them, write
# their status with server-side apply (patch) only; nothing else of them.
- apiGroups: ["domainmonitor.io"]
  resources: ["domainhealthchecks"]
  verbs: ["list", "watch"]
- apiGroups: ["domainmonitor.io"]
  resources: ["domainhealthchecks/status"]
  verbs: ["patch"]
{{- end }}
{{- end }}

{{- define "domain-monitor.subject" -}}
- kind: ServiceAccount
  name: {{ include "domain-monitor.serviceAccountName" . }}
  namespace: {{ .Release.Namespace }}
{{- end }}

{{/* RESERVED_NAMES: the mounted reserved-name lists, comma-separated. */}}
{{- define "domain-monitor.reservedNamesPaths" -}}
{{- $paths := list }}
{{- range $file, $_ := .Values.reservedNames }}
{{- $paths = append $paths (printf "/etc/domain-monitor/reserved/%s" $file) }}
{{- end }}
{{- join "," $paths }}
{{- end }}
