-- let Destinations: every remote address in the whole baseline (not only the new connections).
SELECT DISTINCT RemoteIP
FROM {{ ref('baseline') }}
