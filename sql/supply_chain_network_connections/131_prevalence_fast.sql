-- Stage 8's right side (plan "fast"): the whole fleet's prevalence, counted only for the addresses of the new
-- connections, the only rows the lookup keeps (Destinations is their superset).
SELECT
  RemoteIP,
  {{ kql.dcount('DeviceId') }} AS Prevalence,
  {{ kql.make_set('RemoteUrl') }} AS URLs{{ rule.urls_trusted_column() }}
FROM (
  SELECT {{ kql.columns('DeviceNetworkEvents') }}
  FROM {{ source('DeviceNetworkEvents') }}
) AS events
WHERE Timestamp > {{ kql.ago('prevalence_window') }}
  AND {{ kql.in_set('RemoteIP', 'stage7_new_connections', 'RemoteIP') }}
GROUP BY RemoteIP
