-- Stage 8 (lookup kind=leftouter): every new connection keeps its row; Prevalence and URLs stay null
-- when the destination has no row on the right. The key column is not repeated.
SELECT
  new_connections.*,
  prevalence.Prevalence AS Prevalence,
  prevalence.URLs AS URLs
FROM {{ ref('stage7_new_connections') }} AS new_connections
LEFT JOIN {{ ref('prevalence') }} AS prevalence
  ON new_connections.RemoteIP = prevalence.RemoteIP
