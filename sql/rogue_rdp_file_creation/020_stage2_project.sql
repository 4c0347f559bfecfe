-- Stage 2 (project): exactly these nine columns in this order; the process name lower-cased (the join key) and
-- the connection's time kept a second time as NetworkTimestamp.
{# tolower() folds Unicode (operators.md 3); after Stage 1's `=~ "mstsc.exe"` it is always "mstsc.exe". -#}
SELECT
  Timestamp,
  DeviceId,
  DeviceName,
  {{ kql.tolower('InitiatingProcessFileName') }} AS InitiatingProcessFileName,
  InitiatingProcessId,
  RemoteIP,
  RemoteUrl,
  RemotePort,
  Timestamp AS NetworkTimestamp
FROM {{ ref('stage1_mstsc_connections') }}
