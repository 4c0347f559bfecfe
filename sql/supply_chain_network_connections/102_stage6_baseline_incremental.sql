-- Stage 6 (summarize), let baseline (plan "incremental"): the third-party servers' connections, summed over the
-- files' summaries, for the connections Stage 7 can keep: those with a sighting inside the new window.
{# Stage 7 keeps starttime > ago(new_window), and starttime is the earliest sighting: a connection none of whose
   rows was first seen inside the new window can never pass it, so it is not summed. A connection that passes is
   summed over all its rows (count, first and last sighting): its row is the other plans' row. RemotePort may be
   null (a group of its own, as in KQL), hence IS NOT DISTINCT FROM. -#}
SELECT
  DeviceName,
  RemoteIP,
  RemotePort,
  {{ kql.to_long('sum(events)') }} AS {{ q('Count') }},
  min(first_seen) AS starttime,
  max(last_seen) AS endtime
FROM {{ ref('server_outbound_events') }} AS connection
WHERE {{ kql.in_set('DeviceName', 'servers_with_third_party_apps', 'DeviceName') }}
  AND EXISTS (
    SELECT 1
    FROM {{ ref('server_outbound_events') }} AS recent
    WHERE recent.first_seen > {{ kql.ago('new_window') }}
      AND recent.DeviceName = connection.DeviceName
      AND recent.RemoteIP = connection.RemoteIP
      AND recent.RemotePort IS NOT DISTINCT FROM connection.RemotePort
  )
GROUP BY DeviceName, RemoteIP, RemotePort
