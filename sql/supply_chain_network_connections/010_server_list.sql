-- let server_list: every device that called itself a server (not a Workstation, not macOS, OS known)
-- in the lookback window. make_set(DeviceName) is this one-column set.
{# DeviceInfo is a stream of snapshots: any qualifying snapshot in the window makes the device a server.
   A missing DeviceType reads as "" and so is not "Workstation" (semantics 1). -#}
SELECT DISTINCT DeviceName
FROM (
  SELECT {{ kql.columns('DeviceInfo') }}
  FROM {{ source('DeviceInfo') }}
) AS device_info
WHERE Timestamp > {{ kql.ago('lookback') }}
  AND {{ kql.isnotempty('OSPlatform') }}
  AND DeviceType <> 'Workstation' AND OSPlatform <> 'macOS'
{%- if raw('privileged_servers') is not none %}
  -- tuning (--privileged-servers): only the servers with domain-wide privileges
  AND {{ kql.in_list('DeviceName', 'privileged_servers') }}
{%- endif %}
