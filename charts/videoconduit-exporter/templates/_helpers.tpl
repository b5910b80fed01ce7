{{/* The chart's name, or nameOverride. */}}
{{- define "videoconduit-exporter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The name of every object: the release name alone when it already holds the
chart's name, within the 63 characters of a DNS label.
*/}}
{{- define "videoconduit-exporter.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := include "videoconduit-exporter.name" . }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Labels that select the pods: they never change over the release's life. */}}
{{- define "videoconduit-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "videoconduit-exporter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "videoconduit-exporter.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "videoconduit-exporter.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: exporter
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "videoconduit-exporter.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{- define "videoconduit-exporter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- .Values.serviceAccount.name | default (include "videoconduit-exporter.fullname" .) }}
{{- else }}
{{- .Values.serviceAccount.name | default "default" }}
{{- end }}
{{- end }}

{{- define "videoconduit-exporter.apiKeysSecret" -}}
{{- .Values.apiKeys.existingSecret | default (printf "%s-api-keys" (include "videoconduit-exporter.fullname" .)) }}
{{- end }}

{{/*
Where the exporter finds its files: the conventional paths of the exporter's
images. Everything under configDir comes from one projected volume.
*/}}
{{- define "videoconduit-exporter.configDir" -}}/etc/videoconduit{{- end }}
{{- define "videoconduit-exporter.stateDir" -}}/var/lib/videoconduit_exporter{{- end }}
{{- define "videoconduit-exporter.port" -}}10177{{- end }}

{{/* Whether the web configuration serves TLS, so that probes and scrapes use HTTPS. */}}
{{- define "videoconduit-exporter.scheme" -}}
{{- if (.Values.webConfig.config | default dict).tls_server_config }}https{{ else }}http{{ end }}
{{- end }}

{{/*
The exporter's configuration file, built from the values as data (toYaml),
never through tpl. Keys come only from the mounted Secret, so api_key_file
is the chart's to set.
*/}}
{{- define "videoconduit-exporter.config" -}}
{{- $accounts := list }}
{{- $names := dict }}
{{- if not .Values.accounts }}
{{- fail "accounts: list at least one VideoConduit account" }}
{{- end }}
{{- range .Values.accounts }}
{{- if not (regexMatch "^[a-z0-9][a-z0-9_-]{0,31}$" (toString .name)) }}
{{- fail (printf "accounts: name %q must match ^[a-z0-9][a-z0-9_-]{0,31}$" (toString .name)) }}
{{- end }}
{{- if hasKey $names .name }}
{{- fail (printf "accounts: name %q is listed twice" .name) }}
{{- end }}
{{- if hasKey . "api_key_file" }}
{{- fail (printf "accounts: %s: api_key_file is set by the chart; give the key in apiKeys" .name) }}
{{- end }}
{{- $_ := set $names .name true }}
{{- $accounts = append $accounts (merge (dict "api_key_file" (printf "%s/keys/%s" (include "videoconduit-exporter.configDir" $) .name)) .) }}
{{- end }}
{{- $config := dict "accounts" $accounts "state_dir" (include "videoconduit-exporter.stateDir" .) }}
{{- with .Values.config.defaults }}
{{- $_ := set $config "defaults" . }}
{{- end }}
{{- toYaml $config }}
{{- end }}

{{/* The ports of the API URLs (the defaults' and each account's), for the NetworkPolicy. */}}
{{- define "videoconduit-exporter.apiPorts" -}}
{{- $urls := list ((.Values.config.defaults | default dict).url | default "https://videoconduit.com") }}
{{- range .Values.accounts }}
{{- with .url }}
{{- $urls = append $urls . }}
{{- end }}
{{- end }}
{{- $ports := list }}
{{- range $urls }}
{{- $u := urlParse . }}
{{- $port := "" }}
{{- if regexMatch ":[0-9]+$" $u.host }}
{{- $port = regexFind "[0-9]+$" $u.host }}
{{- else if eq $u.scheme "http" }}
{{- $port = "80" }}
{{- else if eq $u.scheme "https" }}
{{- $port = "443" }}
{{- else }}
{{- fail (printf "the API URL %q has no http or https scheme" .) }}
{{- end }}
{{- $ports = append $ports (atoi $port) }}
{{- end }}
{{- toJson (uniq $ports) }}
{{- end }}
