-- Stage 6 (summarize), let baseline (plan "fast"): Stages 1 to 5 keep the third-party servers' outbound public
-- connections, a subset of ServersWithThirdPartyApps' input, so the baseline re-sums those rows.
{# ServersWithThirdPartyApps is a subset of server_list, so Stages 2, 4 and 5 keep exactly the rows 021 kept for
   these servers; count() becomes a sum of counts, min and max of mins and maxes. -#}
SELECT
  DeviceName,
  RemoteIP,
  RemotePort,
  {{ kql.to_long('sum(events)') }} AS {{ q('Count') }},
  min(first_seen) AS starttime,
  max(last_seen) AS endtime
FROM {{ ref('server_outbound_events') }}
WHERE {{ kql.in_set('DeviceName', 'servers_with_third_party_apps', 'DeviceName') }}
GROUP BY DeviceName, RemoteIP, RemotePort
