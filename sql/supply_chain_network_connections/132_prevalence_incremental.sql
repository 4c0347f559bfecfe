-- Stage 8's right side (plan "incremental"): the whole fleet's prevalence, from the per-file distinct
-- (RemoteIP, DeviceId, RemoteUrl) inside the prevalence window, counted only for the new connections' addresses.
{{ rule.prevalence_of('stage7_new_connections', partial('prevalence')) }}
