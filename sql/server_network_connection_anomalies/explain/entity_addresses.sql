-- explain: the traced server's addresses after Stage 1, with the servers' sightings of each over lookback and
-- where the address stops.
SELECT
  mine.RemoteIP AS RemoteIP,
  count(*) AS its_events,
  all_servers.sightings AS sightings,
  CASE
    WHEN all_servers.sightings >= {{ param('max_count') }} THEN 'common (Stage 2: count_ >= max_count)'
    WHEN mine.RemoteIP NOT IN (SELECT RemoteIP FROM {{ ref('stage3_unknown_destinations') }}) THEN 'known destination (Stage 3)'
    WHEN mine.RemoteIP NOT IN (SELECT RemoteIP FROM {{ ref('recent_server_connections') }}) THEN 'rare, but no recent event (Stage 4)'
    ELSE 'rare: its recent events alert'
  END AS verdict
FROM {{ ref('stage1_server_connections') }} AS mine
JOIN (
  SELECT RemoteIP, count(*) AS sightings FROM {{ ref('stage1_server_connections') }} GROUP BY RemoteIP
) AS all_servers ON all_servers.RemoteIP = mine.RemoteIP
WHERE mine.DeviceName = {{ entity }}
GROUP BY mine.RemoteIP, all_servers.sightings
ORDER BY sightings, RemoteIP
