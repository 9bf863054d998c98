{{/* Chart name, truncated to 63 chars (DNS label). */}}
{{- define "grpo-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release-chart unless the release name already contains the chart name. */}}
{{- define "grpo-operator.fullname" -}}
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

{{- define "grpo-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "grpo-operator.labels" -}}
helm.sh/chart: {{ include "grpo-operator.chart" . }}
{{ include "grpo-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: grpo-operator
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels on monitoring objects: the common labels plus monitoring.additionalLabels. */}}
{{- define "grpo-operator.monitoringLabels" -}}
{{ include "grpo-operator.labels" . }}
{{- with .Values.monitoring.additionalLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "grpo-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "grpo-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "grpo-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "grpo-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* repository:tag or repository@digest; the tag defaults to the chart's appVersion. */}}
{{- define "grpo-operator.imageRef" -}}
{{- $image := index . 0 }}
{{- $chart := index . 1 }}
{{- if $image.digest }}
{{- printf "%s@%s" $image.repository $image.digest }}
{{- else }}
{{- printf "%s:%s" $image.repository (default $chart.AppVersion $image.tag) }}
{{- end }}
{{- end }}

{{/* The operator's RBAC rules for GRPOJobs and their children (shared by ClusterRole and Roles). */}}
{{- define "grpo-operator.namespacedRules" -}}
# GRPOJobs: watched and reconciled; status and finalizers patched.
- apiGroups: ["grpo.dev"]
  resources: ["grpojobs"]
  verbs: ["get", "list", "watch", "patch", "update"]
- apiGroups: ["grpo.dev"]
  resources: ["grpojobs/status"]
  verbs: ["get", "patch", "update"]
# Children: the resolved-config and reward ConfigMaps, the single-node Job, the multi-node RayJob.
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
- apiGroups: ["ray.io"]
  resources: ["rayjobs"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
# Trainer pods: read only, to report image pull errors, restarts and exit codes.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch"]
# Events on GRPOJobs (kopf posts them too).
- apiGroups: ["", "events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
# The per-GRPOJob NetworkPolicy fencing its trainer pods (networkPolicy.enabled).
{{- if .Values.networkPolicy.enabled }}
- apiGroups: ["networking.k8s.io"]
  resources: ["networkpolicies"]
  verbs: ["get", "create", "patch"]
{{- end }}
# No Secrets: a missing referenced Secret is reported from the trainer pod's own state.
{{- end }}

{{/* kopf's namespace list for `kopf run`: -A, or --namespace X for each watched namespace. */}}
{{- define "grpo-operator.namespaceArgs" -}}
{{- if .Values.watchNamespaces }}
{{- range .Values.watchNamespaces }}
- --namespace={{ . }}
{{- end }}
{{- else }}
- --all-namespaces
{{- end }}
{{- end }}

{{/* A Prometheus duration ("1m30s", "500ms") in milliseconds. */}}
{{- define "grpo-operator.durationMs" -}}
{{- $ms := 0 }}
{{- $units := dict "ms" 1 "s" 1000 "m" 60000 "h" 3600000 "d" 86400000 "w" 604800000 "y" 31536000000 }}
{{- range regexFindAll "[0-9]+(ms|s|m|h|d|w|y)" (toString .) -1 }}
{{- $unit := regexFind "(ms|s|m|h|d|w|y)$" . }}
{{- $ms = add $ms (mul (trimSuffix $unit . | atoi) (get $units $unit)) }}
{{- end }}
{{- $ms }}
{{- end }}

{{/* prometheus-operator drops a monitor whose scrapeTimeout is longer than its interval: refuse it here.
     Argument: (list "<values key>" <monitor values>). */}}
{{- define "grpo-operator.checkScrapeTimeout" -}}
{{- $key := index . 0 }}
{{- $m := index . 1 }}
{{- $interval := include "grpo-operator.durationMs" $m.interval | atoi }}
{{- $timeout := include "grpo-operator.durationMs" $m.scrapeTimeout | atoi }}
{{- if gt $timeout $interval }}
{{- fail (printf "monitoring.%s.scrapeTimeout (%s) must not be longer than monitoring.%s.interval (%s): prometheus-operator drops such a monitor" $key $m.scrapeTimeout $key $m.interval) }}
{{- end }}
{{- end }}


{{/* An alert's runbook_url annotation: monitoring.prometheusRule.runbookUrls.<alert>, else runbookUrl + the
     alert name in lower case; nothing when both are empty. Argument: (list <prometheusRule values> "<alert>"). */}}
{{- define "grpo-operator.runbookUrl" -}}
{{- $r := index . 0 }}
{{- $alert := index . 1 }}
{{- $url := index ($r.runbookUrls | default dict) $alert | default "" }}
{{- if and (not $url) $r.runbookUrl }}
{{- $url = printf "%s%s" $r.runbookUrl (lower $alert) }}
{{- end }}
{{- with $url }}
runbook_url: {{ . | quote }}
{{- end }}
{{- end }}

{{/* Image pull secrets of the operator pod: global.imagePullSecrets, then imagePullSecrets (names deduplicated). */}}
{{- define "grpo-operator.imagePullSecrets" -}}
{{- $seen := dict }}
{{- $out := list }}
{{- range concat ((.Values.global).imagePullSecrets | default list) (.Values.imagePullSecrets | default list) }}
{{- $name := . }}
{{- if not (kindIs "string" .) }}
{{- $name = get . "name" }}
{{- end }}
{{- if not (hasKey $seen $name) }}
{{- $_ := set $seen $name true }}
{{- $out = append $out (dict "name" $name) }}
{{- end }}
{{- end }}
{{- with $out }}
{{- toYaml . }}
{{- end }}
{{- end }}
