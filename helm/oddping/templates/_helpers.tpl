{{/* ---------------------------------------------------------------- names and labels */}}

{{- define "oddping.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "oddping.fullname" -}}
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

{{- define "oddping.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "oddping.selectorLabels" -}}
app.kubernetes.io/name: {{ include "oddping.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "oddping.labels" -}}
helm.sh/chart: {{ include "oddping.chart" . }}
{{ include "oddping.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: oddping
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "oddping.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "oddping.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "oddping.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* ---------------------------------------------------------------- value guards */}}

{{/*
Checks no JSON schema can express (relations between values). Included by the ConfigMap, which
is always rendered, so `helm template` / `helm install` fail with the message.
*/}}
{{- define "oddping.validate" -}}
{{- $v := .Values }}
{{- $partitions := int $v.kafka.partitions }}
{{- if and $v.processor.enabled (not $v.keda.enabled) (gt (int $v.processor.replicas) $partitions) }}
{{- fail (printf "processor.replicas (%d) must not exceed kafka.partitions (%d): a faust worker beyond the partition count gets no partition and sits idle" (int $v.processor.replicas) $partitions) }}
{{- end }}
{{- if $v.keda.enabled }}
{{- if gt (int $v.keda.maxReplicaCount) $partitions }}
{{- fail (printf "keda.maxReplicaCount (%d) must not exceed kafka.partitions (%d)" (int $v.keda.maxReplicaCount) $partitions) }}
{{- end }}
{{- if gt (int $v.keda.minReplicaCount) (int $v.keda.maxReplicaCount) }}
{{- fail (printf "keda.minReplicaCount (%d) must not exceed keda.maxReplicaCount (%d)" (int $v.keda.minReplicaCount) (int $v.keda.maxReplicaCount)) }}
{{- end }}
{{- if not $v.processor.enabled }}
{{- fail "keda.enabled needs processor.enabled: KEDA scales the processor" }}
{{- end }}
{{- end }}
{{- $proto := $v.kafka.securityProtocol }}
{{- $isSasl := hasPrefix "SASL_" $proto }}
{{- if and $isSasl (not $v.kafka.sasl.mechanism) }}
{{- fail (printf "kafka.sasl.mechanism is required with kafka.securityProtocol=%s" $proto) }}
{{- end }}
{{- if and $isSasl (not $v.kafka.sasl.username) }}
{{- fail (printf "kafka.sasl.username is required with kafka.securityProtocol=%s" $proto) }}
{{- end }}
{{- if and $isSasl (not $v.kafka.sasl.passwordSecret.name) }}
{{- fail (printf "kafka.sasl.passwordSecret.name is required with kafka.securityProtocol=%s" $proto) }}
{{- end }}
{{- if and $v.kafka.sasl.mechanism (not $isSasl) }}
{{- fail (printf "kafka.sasl.mechanism is set but kafka.securityProtocol=%s does not use SASL (use SASL_PLAINTEXT or SASL_SSL)" $proto) }}
{{- end }}
{{- if and (or $v.kafka.tls.caSecret.name $v.kafka.tls.clientSecret.name) (not (hasSuffix "SSL" $proto)) }}
{{- fail (printf "kafka.tls secrets are set but kafka.securityProtocol=%s does not use TLS (use SSL or SASL_SSL)" $proto) }}
{{- end }}
{{- $seen := dict }}
{{- range $v.sensor.pools }}
{{- if hasKey $seen .name }}
{{- fail (printf "sensor.pools: the name %q is used twice" .name) }}
{{- end }}
{{- $_ := set $seen .name true }}
{{- end }}
{{- end }}

{{/* ---------------------------------------------------------------- oddping.toml */}}

{{/*
The configuration oddping reads, as a dict with oddping's own key names (see oddping/config.py).
Values the chart maps from camelCase come first; rules, suppressions and `config` are passed
through verbatim, `config` deep-merged last.
*/}}
{{- define "oddping.configDict" -}}
{{- $v := .Values }}
{{- $k := $v.kafka }}
{{- $kafka := dict
  "bootstrap_servers" $k.bootstrapServers
  "records_topic" $k.recordsTopic
  "alerts_topic" $k.alertsTopic
  "dead_letter_topic" $k.deadLetterTopic
  "partitions" (int $k.partitions)
  "replication_factor" (int $k.replicationFactor)
  "security_protocol" $k.securityProtocol
  "extra" (deepCopy (default dict $k.extra)) }}
{{- if $k.sasl.mechanism }}{{ $_ := set $kafka "sasl_mechanism" $k.sasl.mechanism }}{{ end }}
{{- if $k.sasl.username }}{{ $_ := set $kafka "sasl_username" $k.sasl.username }}{{ end }}
{{- if $k.tls.caSecret.name }}{{ $_ := set $kafka "ssl_ca_location" "/etc/oddping/kafka/ca/ca.crt" }}{{ end }}
{{- if $k.tls.clientSecret.name }}
{{- $_ := set $kafka "ssl_certificate_location" "/etc/oddping/kafka/client/client.crt" }}
{{- $_ := set $kafka "ssl_key_location" "/etc/oddping/kafka/client/client.key" }}
{{- end }}
{{- $s := $v.sensor }}
{{- $capture := dict "snaplen" (int $s.snaplen) "promiscuous" $s.promiscuous "buffer_mb" (int $s.bufferMb) }}
{{- $_ := set $capture "user" (ternary (default "" $s.captureUser) "" (eq (int $s.runAsUser) 0)) }}
{{- $p := $v.processor }}
{{- $processor := dict
  "app_id" $p.appId
  "store" $p.store
  "data_dir" $p.dataDir
  "alert_format" $p.alertFormat
  "batch_size" (int $p.batchSize)
  "checkpoint_interval_s" $p.checkpointIntervalSeconds
  "checkpoint_max_records" (int $p.checkpointMaxRecords)
  "fetch_partition_bytes" (int $p.fetchPartitionBytes)
  "poll_records" (int $p.pollRecords)
  "stall_timeout_s" $p.stallTimeoutSeconds
  "max_tracked_hosts" (int $p.maxTrackedHosts)
  "alert_budget_per_minute" (int $p.alertBudgetPerMinute)
  "several_sensors" $p.severalSensors
  "sensor_late_bound_s" $p.sensorLateBoundSeconds
  "copy_window_s" $p.copyWindowSeconds
  "clock_offset_warn_s" $p.clockOffsetWarnSeconds
  "duplicate_window_s" $p.duplicateWindowSeconds
  "host_idle_expiry_s" $p.hostIdleExpirySeconds
  "alert_first_delay_s" $p.alertFirstDelaySeconds
  "alert_update_interval_s" $p.alertUpdateIntervalSeconds
  "alert_idle_emit_s" $p.alertIdleEmitSeconds }}
{{- $cfg := dict
  "log_level" $v.logLevel
  "log_format" $v.logFormat
  "kafka" $kafka
  "capture" $capture
  "metrics" (dict "host" "0.0.0.0" "port" (int $v.metrics.port))
  "processor" $processor
  "rules" (deepCopy (default dict $v.rules))
  "suppressions" (deepCopy (default list $v.suppressions))
  "campaigns" (deepCopy (default dict $v.campaigns)) }}
{{- if $v.internalNetworks }}{{ $_ := set $cfg "networks" (dict "internal" (deepCopy $v.internalNetworks)) }}{{ end }}
{{- toJson (mustMergeOverwrite $cfg (deepCopy (default dict $v.config))) }}
{{- end }}

{{- define "oddping.configToml" -}}
# oddping configuration rendered by the {{ include "oddping.chart" . }} Helm chart from its values.
# Secrets are not here: the SASL password arrives as env ODDPING_KAFKA__SASL_PASSWORD, the sensor
# id as ODDPING_SENSOR_ID (the node name), and certificates as mounted files.
{{- include "oddping.toml.table" (dict "table" (include "oddping.configDict" . | fromJson) "path" "") }}
{{ end }}

{{/*
A minimal TOML writer for plain data: scalars and arrays of scalars first, then sub-tables
([a.b]), then arrays of tables ([[a]]). Keys that are not bare are quoted; strings use JSON
escapes, which are valid TOML basic-string escapes. nil values are left out.
*/}}
{{- define "oddping.toml.key" -}}
{{- if regexMatch "^[A-Za-z0-9_-]+$" . }}{{ . }}{{ else }}{{ toJson . }}{{ end }}
{{- end }}

{{- define "oddping.toml.isTableArray" -}}
{{- if and (kindIs "slice" .) (gt (len .) 0) }}
{{- $all := true }}
{{- range . }}{{ if not (kindIs "map" .) }}{{ $all = false }}{{ end }}{{ end }}
{{- if $all }}true{{ end }}
{{- end }}
{{- end }}

{{- define "oddping.toml.value" -}}
{{- if kindIs "slice" . -}}
[{{ range $i, $e := . }}{{ if $i }}, {{ end }}{{ include "oddping.toml.value" $e }}{{ end }}]
{{- else if kindIs "map" . -}}
{{- $m := . -}}
{ {{- range $i, $key := keys $m | sortAlpha }}{{ if $i }},{{ end }} {{ include "oddping.toml.key" $key }} = {{ include "oddping.toml.value" (get $m $key) }}{{ end }} }
{{- else if kindIs "float64" . -}}
{{- /* values files give every number as float64: print integers without a fraction */ -}}
{{- if eq . (floor .) }}{{ int64 . }}{{ else }}{{ toJson . }}{{ end }}
{{- else -}}
{{- toJson . }}
{{- end -}}
{{- end }}

{{- define "oddping.toml.table" -}}
{{- $t := .table }}
{{- $path := .path }}
{{- range $key := keys $t | sortAlpha }}
{{- $v := get $t $key }}
{{- if not (or (kindIs "invalid" $v) (kindIs "map" $v) (include "oddping.toml.isTableArray" $v)) }}
{{ include "oddping.toml.key" $key }} = {{ include "oddping.toml.value" $v }}
{{- end }}
{{- end }}
{{- range $key := keys $t | sortAlpha }}
{{- $v := get $t $key }}
{{- $sub := ternary (include "oddping.toml.key" $key) (printf "%s.%s" $path (include "oddping.toml.key" $key)) (eq $path "") }}
{{- if kindIs "map" $v }}
{{- /* a header only for tables with keys of their own: [a.b] implies [a], and an empty table
       is the same as none to oddping */}}
{{- $own := false }}
{{- range $vv := values $v }}
{{- if not (or (kindIs "invalid" $vv) (kindIs "map" $vv) (include "oddping.toml.isTableArray" $vv)) }}{{ $own = true }}{{ end }}
{{- end }}
{{- if $own }}

[{{ $sub }}]
{{- end }}
{{- include "oddping.toml.table" (dict "table" $v "path" $sub) }}
{{- end }}
{{- end }}
{{- range $key := keys $t | sortAlpha }}
{{- $v := get $t $key }}
{{- $sub := ternary (include "oddping.toml.key" $key) (printf "%s.%s" $path (include "oddping.toml.key" $key)) (eq $path "") }}
{{- if include "oddping.toml.isTableArray" $v }}
{{- range $e := $v }}

[[{{ $sub }}]]
{{- include "oddping.toml.table" (dict "table" $e "path" $sub) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* ---------------------------------------------------------------- shared pod parts */}}

{{- define "oddping.configChecksum" -}}
checksum/config: {{ include "oddping.configToml" . | sha256sum }}
{{- end }}

{{/* Env every oddping container gets: config path and the SASL password from its Secret. */}}
{{- define "oddping.commonEnv" -}}
- name: ODDPING_CONFIG
  value: /etc/oddping/config/oddping.toml
{{- if .Values.kafka.sasl.passwordSecret.name }}
- name: ODDPING_KAFKA__SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.kafka.sasl.passwordSecret.name }}
      key: {{ .Values.kafka.sasl.passwordSecret.key }}
{{- end }}
{{- end }}

{{- define "oddping.commonVolumeMounts" -}}
- name: config
  mountPath: /etc/oddping/config
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- if .Values.kafka.tls.caSecret.name }}
- name: kafka-ca
  mountPath: /etc/oddping/kafka/ca
  readOnly: true
{{- end }}
{{- if .Values.kafka.tls.clientSecret.name }}
- name: kafka-client
  mountPath: /etc/oddping/kafka/client
  readOnly: true
{{- end }}
{{- end }}

{{/* configMapName: the ConfigMap holding oddping.toml (the hook Job has its own copy). */}}
{{- define "oddping.commonVolumes" -}}
{{- $ctx := .ctx -}}
- name: config
  configMap:
    name: {{ .configMapName }}
    items:
      - key: oddping.toml
        path: oddping.toml
- name: tmp
  emptyDir:
    sizeLimit: 256Mi
{{- with $ctx.Values.kafka.tls.caSecret }}
{{- if .name }}
- name: kafka-ca
  secret:
    secretName: {{ .name }}
    defaultMode: 0440
    items:
      - key: {{ .key }}
        path: ca.crt
{{- end }}
{{- end }}
{{- with $ctx.Values.kafka.tls.clientSecret }}
{{- if .name }}
- name: kafka-client
  secret:
    secretName: {{ .name }}
    defaultMode: 0440
    items:
      - key: {{ .certKey }}
        path: client.crt
      - key: {{ .keyKey }}
        path: client.key
{{- end }}
{{- end }}
{{- end }}

{{/* Pod Security "restricted" for the processor and the topics Job. */}}
{{- define "oddping.restrictedPodSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "oddping.restrictedContainerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
privileged: false
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* httpGet probe on /healthz; args: port name and a dict of timings. */}}
{{- define "oddping.probe" -}}
httpGet:
  path: /healthz
  port: metrics
{{- range $k := list "initialDelaySeconds" "periodSeconds" "timeoutSeconds" "failureThreshold" }}
{{- if hasKey $.timing $k }}
{{ $k }}: {{ int (get $.timing $k) }}
{{- end }}
{{- end }}
{{- end }}
