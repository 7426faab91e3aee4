{{- define "demo-app.image" -}}
{{ .root.Values.registry }}/{{ .image.repository }}:{{ .image.tag }}
{{- end -}}

{{- define "demo-app.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
