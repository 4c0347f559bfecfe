-- let ServersWithThirdPartyApps, its input: the servers' outbound public connections in the lookback window
-- (the KQL writes this sub-query twice, once per side of its join; it is one set of rows).
SELECT *
FROM (
  SELECT {{ kql.columns('DeviceNetworkEvents') }}
  FROM {{ source('DeviceNetworkEvents') }}
) AS events
WHERE {{ rule.server_outbound() }}
