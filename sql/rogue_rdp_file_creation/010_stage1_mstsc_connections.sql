-- Stage 1 (DeviceNetworkEvents | where ...): the Remote Desktop client's (mstsc.exe) successful connections to
-- public addresses within the query period.
{# `in ("ConnectionSuccess")` and `== "Public"` are case-sensitive ("public" is out); `=~` ignores ASCII case
   (MSTSC.EXE is in; operators.md 3). A missing string reads as "" and matches none of them (semantics 1).
   The window is strict and has no upper bound (semantics 5). -#}
SELECT *
FROM (
  SELECT {{ kql.columns('DeviceNetworkEvents') }}
  FROM {{ source('DeviceNetworkEvents') }}
) AS network_events
WHERE Timestamp > {{ kql.ago('query_period') }}
  AND ActionType IN ('ConnectionSuccess')
  AND {{ kql.eq_ci('InitiatingProcessFileName', 'mstsc.exe') }}
  AND RemoteIPType = 'Public'
