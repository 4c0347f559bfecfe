-- Stage 3 (where): only the servers that run third-party software.
SELECT *
FROM {{ ref('stage2_lookback') }}
WHERE {{ kql.in_set('DeviceName', 'servers_with_third_party_apps', 'DeviceName') }}
