{{- define "portal.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "portal.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "portal.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "portal.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "portal.selectorLabels" -}}
app.kubernetes.io/name: {{ include "portal.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "portal.labels" -}}
{{ include "portal.selectorLabels" . }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: hikube-gpu-portal
{{- end -}}

{{/* Labels of one component (web, worker, beat, migrate): (dict "root" $ "component" "web"). */}}
{{- define "portal.componentLabels" -}}
{{ include "portal.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "portal.componentSelector" -}}
{{ include "portal.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "portal.serviceAccountName" -}}
{{- default (include "portal.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "portal.secretName" -}}
{{- default (include "portal.fullname" .) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "portal.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* env_bool's true spellings (hikube_portal/env.py), so that a toggle reads the same in the chart and the portal. */}}
{{- define "portal.isTrue" -}}
{{- if has (lower (toString .)) (list "1" "true" "yes" "on") -}}true{{- end -}}
{{- end -}}

{{- define "portal.readsNodes" -}}
{{- if ne (lower (toString .Values.config.CLUSTER_READ_NODES)) "false" -}}true{{- end -}}
{{- end -}}

{{- define "portal.createsNamespaces" -}}
{{- include "portal.isTrue" .Values.config.CLUSTER_CREATE_NAMESPACES -}}
{{- end -}}

{{/* The ConfigMap's data: every non-secret setting as an environment variable. */}}
{{- define "portal.configData" -}}
{{- $config := deepCopy .Values.config -}}
{{- if .Values.kubeconfig.existingSecret -}}
{{- $_ := set $config "CLUSTER_KUBECONFIG" (printf "%s/%s" .Values.kubeconfig.mountPath .Values.kubeconfig.key) -}}
{{- end -}}
{{- range $key, $value := $config }}
{{ $key }}: {{ toString $value | quote }}
{{- end }}
{{- end -}}

{{- define "portal.secretData" -}}
{{- range $key, $value := .Values.secrets.values }}
{{- if $value }}
{{ $key }}: {{ $value | b64enc | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* A container's securityContext, its /tmp (the root file system is read-only) and its settings. */}}
{{- define "portal.containerCommon" -}}
image: {{ include "portal.image" .root }}
imagePullPolicy: {{ .root.Values.image.pullPolicy }}
securityContext:
  {{- toYaml .root.Values.containerSecurityContext | nindent 2 }}
envFrom:
  - configMapRef:
      name: {{ .configName }}
  - secretRef:
      name: {{ .secretName }}
volumeMounts:
  - name: tmp
    mountPath: /tmp
  {{- if .root.Values.kubeconfig.existingSecret }}
  - name: kubeconfig
    mountPath: {{ .root.Values.kubeconfig.mountPath }}
    readOnly: true
  {{- end }}
{{- end -}}

{{/* What every pod of the portal shares: a non-root user, RuntimeDefault seccomp, a writable /tmp. */}}
{{- define "portal.podCommon" -}}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
volumes:
  - name: tmp
    emptyDir:
      sizeLimit: {{ .Values.tmpSizeLimit }}
  {{- if .Values.kubeconfig.existingSecret }}
  - name: kubeconfig
    secret:
      secretName: {{ .Values.kubeconfig.existingSecret }}
      items:
        - key: {{ .Values.kubeconfig.key }}
          path: {{ .Values.kubeconfig.key }}
  {{- end }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "portal.checksums" -}}
checksum/config: {{ include "portal.configData" . | sha256sum }}
checksum/secret: {{ include "portal.secretData" . | sha256sum }}
{{- end -}}
