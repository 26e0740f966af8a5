{{/* Names and labels shared by every template. */}}

{{- define "otel-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* release-chart, or the release name alone when it already contains the chart name; 63 characters at most */}}
{{- define "otel-operator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "otel-operator.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "otel-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "otel-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "otel-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "otel-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller-manager
{{- end -}}

{{- define "otel-operator.labels" -}}
{{ include "otel-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: otel-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "otel-operator.image" -}}
{{- if .Values.image.ref -}}
{{- .Values.image.ref -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "otel-operator.allocatorImage" -}}
{{- if .Values.targetAllocatorImage.repository -}}
{{- printf "%s:%s" .Values.targetAllocatorImage.repository (default .Chart.AppVersion .Values.targetAllocatorImage.tag) -}}
{{- else -}}
{{- include "otel-operator.image" . -}}
{{- end -}}
{{- end -}}

{{/* The webhooks' objects: one Service, both configurations share the full name, the serving certificate's Secret */}}
{{- define "otel-operator.webhookService" -}}
{{- printf "%s-webhook" (include "otel-operator.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "otel-operator.webhookSecret" -}}
{{- printf "%s-webhook-cert" (include "otel-operator.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "otel-operator.webhookCertificate" -}}
{{- printf "%s-serving-cert" (include "otel-operator.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "otel-operator.webhookCertDir" -}}
/tmp/k8s-webhook-server/serving-certs
{{- end -}}

{{/*
A webhook's clientConfig: the Service, path /<handler id> (operator/otel_operator/admission/names.py).
Call with (dict "root" $ "path" "<handler id>"). No caBundle: the operator patches it (or cert-manager's
cainjector does), and Helm leaves a field it never rendered alone on upgrade.
*/}}
{{- define "otel-operator.webhookClientConfig" -}}
service:
  name: {{ include "otel-operator.webhookService" .root }}
  namespace: {{ .root.Release.Namespace }}
  path: /{{ .path }}
  port: 443
{{- end -}}

{{/*
A webhook's namespaceSelector: never the release namespace nor kube-system (a broken operator cannot lock the
cluster or itself), narrowed by admissionWebhooks.namespaceSelector. Call with (dict "root" $ "labels" (dict ...))
for labels the webhook itself requires (they win over the value's).
*/}}
{{- define "otel-operator.webhookNamespaceSelector" -}}
{{- $extra := .root.Values.admissionWebhooks.namespaceSelector | default dict -}}
{{- $labels := merge (dict) (.labels | default dict) ($extra.matchLabels | default dict) -}}
{{- $excluded := list .root.Release.Namespace -}}
{{- if ne .root.Release.Namespace "kube-system" }}{{ $excluded = append $excluded "kube-system" }}{{ end -}}
{{- $own := dict "key" "kubernetes.io/metadata.name" "operator" "NotIn" "values" $excluded -}}
{{- $expressions := prepend ($extra.matchExpressions | default list) $own -}}
{{- /* a namespaced operator's webhooks intercept only its namespaces (globs cannot be a selector: say so) */ -}}
{{- $watched := .root.Values.watchNamespaces | default list -}}
{{- if $watched }}
{{- range $watched }}
{{- if regexMatch "[*?\\[\\]]" . }}
{{- if not $.root.Values.admissionWebhooks.namespaceSelector }}
{{- fail (printf "watchNamespaces has the glob %q, which a webhook's namespaceSelector cannot express: set admissionWebhooks.namespaceSelector to select the namespaces the webhooks may intercept (or admissionWebhooks.enabled=false)" .) }}
{{- end }}
{{- end }}
{{- end }}
{{- $exact := list }}
{{- range $watched }}{{ if not (regexMatch "[*?\\[\\]]" .) }}{{ $exact = append $exact . }}{{ end }}{{ end }}
{{- if eq (len $exact) (len $watched) }}
{{- $expressions = append $expressions (dict "key" "kubernetes.io/metadata.name" "operator" "In" "values" $exact) }}
{{- end }}
{{- end -}}
{{- $selector := dict "matchExpressions" $expressions -}}
{{- if $labels }}{{ $_ := set $selector "matchLabels" $labels }}{{ end -}}
{{- toYaml $selector -}}
{{- end -}}
