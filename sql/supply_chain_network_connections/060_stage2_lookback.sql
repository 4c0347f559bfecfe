-- Stage 2 (where): events newer than the lookback window; the edge itself is out (strict `>`).
SELECT *
FROM {{ ref('stage1_source') }}
WHERE Timestamp > {{ kql.ago('lookback') }}
