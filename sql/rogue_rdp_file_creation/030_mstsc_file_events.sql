-- Stage 3's right side (the join's sub-query): files of a watched type that mstsc.exe created or modified within
-- the query period, every DeviceFileEvents column in Microsoft's order, the process name lower-cased in its own
-- place (extend of an existing column keeps its position) and FileTimestamp = Timestamp added last.
{# `FileName has_any (file_types)` is a term match ignoring case, not a substring (operators.md 1-2): ".dll" is in
   "x.DLL" and "a.dll.txt", not in "report.dllx"; ".exe" is in "setup.exe.config"; an empty list matches nothing.
   Absent documented columns read as "" or null (whole_rows); a null FileName reads as "" and has no term. -#}
SELECT
{%- for col in table_columns('DeviceFileEvents') %}
  {% if col == 'InitiatingProcessFileName' %}{{ kql.tolower(col) }} AS {{ col }}{% else %}{{ col }}{% endif %},
{%- endfor %}
  Timestamp AS FileTimestamp
FROM (
  SELECT *
  FROM (
    SELECT {{ kql.columns('DeviceFileEvents') }}
    FROM {{ source('DeviceFileEvents') }}
  ) AS file_events
  WHERE Timestamp > {{ kql.ago('query_period') }}
    AND ActionType IN ('FileCreated', 'FileModified')
    AND {{ kql.eq_ci('InitiatingProcessFileName', 'mstsc.exe') }}
    AND {{ kql.has_any('FileName', 'file_types') }}
) AS mstsc_files
