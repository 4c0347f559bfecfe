-- Stage 8's right side: how many devices of the WHOLE fleet contacted each destination in the prevalence
-- window, and with which URLs. No server, ActionType or RemoteIPType filter here (semantics 6).
SELECT
  RemoteIP,
  {{ kql.dcount('DeviceId') }} AS Prevalence,
  {{ kql.make_set('RemoteUrl') }} AS URLs{{ rule.urls_trusted_column() }}
FROM (
  SELECT {{ kql.columns('DeviceNetworkEvents') }}
  FROM {{ source('DeviceNetworkEvents') }}
) AS events
WHERE Timestamp > {{ kql.ago('prevalence_window') }}
  AND {{ kql.in_set('RemoteIP', 'destinations', 'RemoteIP') }}
GROUP BY RemoteIP
