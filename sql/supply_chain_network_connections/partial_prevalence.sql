-- state partial "prevalence" (plan "incremental"): Stage 8's right side before its summarize, per source file:
-- the distinct (RemoteIP, DeviceId, RemoteUrl) of every event, whole fleet (semantics 6).
SELECT DISTINCT
  RemoteIP,
  DeviceId,
  RemoteUrl
FROM (
  SELECT {{ kql.columns('DeviceNetworkEvents') }}
  FROM {{ rows }}
) AS events
