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

{{/* NATS and etcd addresses: the user's, or the bundled servers' (https when its TLS is on; NATS
upgrades nats:// to TLS when the server requires it). */}}
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
{{- printf "%s://%s-etcd.%s.svc:2379" (ternary "https" "http" .Values.etcd.tls.enabled) (include "dynamo.fullname" .) .Release.Namespace -}}
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

{{/* "true" when the chart runs its own NATS / etcd (enabled, and no address of the user's). */}}
{{- define "dynamo.bundledNats" -}}
{{- if and .Values.nats.enabled (not .Values.natsServer) -}}true{{- end -}}
{{- end -}}

{{- define "dynamo.bundledEtcd" -}}
{{- if and .Values.etcd.enabled (not .Values.etcdEndpoints) -}}true{{- end -}}
{{- end -}}

{{/* The client Secret the operator mounts into graph pods (--runtime-secret); empty: none. */}}
{{- define "dynamo.runtimeSecret" -}}
{{- if .Values.runtimeSecret.name -}}
{{- .Values.runtimeSecret.name -}}
{{- else if .Values.runtimeSecret.create -}}
{{- printf "%s-dynamo-runtime" .Release.Name | trunc 59 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Secrets of the bundled servers: certificates (kubernetes.io/tls with ca.crt) and passwords. */}}
{{- define "dynamo.natsTlsSecret" -}}
{{- printf "%s-nats-tls" (include "dynamo.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "dynamo.etcdTlsSecret" -}}
{{- printf "%s-etcd-tls" (include "dynamo.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "dynamo.credentialsSecret" -}}
{{- printf "%s-credentials" (include "dynamo.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* DESIGN §14: what every pod of the chart runs with (the image's user of the Dockerfile, 65532). */}}
{{- define "dynamo.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile: { type: RuntimeDefault }
{{- end -}}

{{- define "dynamo.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities: { drop: [ALL] }
{{- end -}}

{{/* Who may scrape metrics ports: values networkPolicy.monitoring. */}}
{{- define "dynamo.monitoringPeer" -}}
- namespaceSelector:
    {{- toYaml .Values.networkPolicy.monitoring.namespaceSelector | nindent 4 }}
  podSelector:
    {{- toYaml .Values.networkPolicy.monitoring.podSelector | nindent 4 }}
{{- end -}}

{{/* Namespaces of graphs (values graphNamespaces; else operator.watchNamespace; else the release's),
comma-separated: where the runtime Secret is copied and the graph-pod NetworkPolicy goes. */}}
{{- define "dynamo.graphNamespaces" -}}
{{- if .Values.graphNamespaces -}}
{{- join "," (uniq .Values.graphNamespaces) -}}
{{- else -}}
{{- default .Release.Namespace .Values.operator.watchNamespace -}}
{{- end -}}
{{- end -}}

{{/* The release's namespace (the etcd setup Job mounts the runtime Secret there) and the graphs'. */}}
{{- define "dynamo.secretNamespaces" -}}
{{- prepend (splitList "," (include "dynamo.graphNamespaces" .)) .Release.Namespace | uniq | join "," -}}
{{- end -}}
