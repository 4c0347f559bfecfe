-- let ServersWithThirdPartyApps, its input, summarized (plan "incremental"): the servers' outbound public
-- connections in the lookback window, one row per server, vendor and destination, from the per-file summaries.
{# partial('outbound') is every device's rows (partial_outbound.sql) of the files inside the lookback window, plus
   the rows of the files across its edge; a group may be split over files, so counts are summed and first and
   last sightings are the min and max. The result is 021's (plan "fast"): every later stage is shared. -#}
{% set hint = kql.materialize() -%}
SELECT
  DeviceName,
  InitiatingProcessVersionInfoCompanyName,
  RemoteIP,
  RemotePort,
  {{ kql.to_long('sum(events)') }} AS events,
  min(first_seen) AS first_seen,
  max(last_seen) AS last_seen
FROM {{ partial('outbound') }} AS outbound
WHERE {{ kql.in_set('DeviceName', 'server_list', 'DeviceName') }}
GROUP BY DeviceName, InitiatingProcessVersionInfoCompanyName, RemoteIP, RemotePort
