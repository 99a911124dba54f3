{{/* Names and labels shared by every template. */}}
{{- define "dynamo.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "dynamo.operatorName" -}}
{{- printf "%s-operator" (include "dynamo.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "dynamo.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "dynamo.operatorSelector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "dynamo.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* NATS and etcd addresses: the user's, or the bundled servers'. */}}
{{- define "dynamo.natsServer" -}}
{{- if .Values.natsServer -}}
{{- .Values.natsServer -}}
{{- else if .Values.nats.enabled -}}
{{- printf "nats://%s-nats.%s.svc:4222" (include "dynamo.fullname" .) .Release.Namespace -}}
{{- else -}}
{{- fail "natsServer is empty and nats.enabled is false: give natsServer or enable the bundled NATS" -}}
{{- end -}}
{{- end -}}

{{- define "dynamo.etcdEndpoints" -}}
{{- if .Values.etcdEndpoints -}}
{{- .Values.etcdEndpoints -}}
{{- else if .Values.etcd.enabled -}}
{{- printf "http://%s-etcd.%s.svc:2379" (include "dynamo.fullname" .) .Release.Namespace -}}
{{- else -}}
{{- fail "etcdEndpoints is empty and etcd.enabled is false: give etcdEndpoints or enable the bundled etcd" -}}
{{- end -}}
{{- end -}}

{{- define "dynamo.webhookService" -}}
{{- printf "%s-webhook" (include "dynamo.operatorName" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Secret of the webhook's serving certificate. The operator's own TLS keeps it under a fixed name
(src/operator/operator.ts); with cert-manager the chart's Certificate names it. */}}
{{- define "dynamo.webhookSecret" -}}
{{- if .Values.webhook.certManager.enabled -}}
{{- printf "%s-webhook-tls" (include "dynamo.operatorName" .) | trunc 63 | trimSuffix "-" -}}
{{- else -}}
dynamo-operator-webhook-cert
{{- end -}}
{{- end -}}

{{/* Where cert-manager's Secret is mounted: the operator reads tls.crt/tls.key there (--cert-dir). */}}
{{- define "dynamo.certDir" -}}
/tmp/k8s-webhook-server/serving-certs
{{- end -}}
