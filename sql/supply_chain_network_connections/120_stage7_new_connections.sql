-- Stage 7 (where): connections first seen within the new window.
SELECT *
FROM {{ ref('baseline') }}
WHERE starttime > {{ kql.ago('new_window') }}
