-- let ServersWithThirdPartyApps, its input: the servers' outbound public connections in the lookback window
-- (the KQL writes this sub-query twice, once per side of its join; it is one set of rows).
SELECT *
FROM (
  SELECT {{ kql.columns('DeviceNetworkEvents') }}
  FROM {{ source('DeviceNetworkEvents') }}
) AS events
WHERE Timestamp > {{ kql.ago('lookback') }}
  AND {{ kql.in_set('DeviceName', 'server_list', 'DeviceName') }}
  AND {{ rule.action_type_kept() }}
  AND {{ rule.remote_ip_type_kept() }}
