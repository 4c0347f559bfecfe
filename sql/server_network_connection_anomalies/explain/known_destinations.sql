-- explain: the rare addresses (Stage 2) that Stage 3 drops because one of their URLs is a known destination.
SELECT
  RemoteIP,
  count_ AS sightings,
  set_RemoteUrl
FROM {{ ref('stage2_rare_addresses') }}
WHERE RemoteIP NOT IN (SELECT RemoteIP FROM {{ ref('stage3_unknown_destinations') }})
ORDER BY count_, RemoteIP
LIMIT 25
