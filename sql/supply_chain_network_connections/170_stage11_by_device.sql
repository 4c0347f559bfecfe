-- Stage 11 (summarize make_set(Details) by DeviceName): one row per alerting server.
{# Details are already distinct: baseline has one row per (DeviceName, RemoteIP, RemotePort), and each Details
   holds RemoteIP and RemotePort. So the set is the list, sorted for deterministic output. -#}
SELECT
  DeviceName,
  list(Details ORDER BY RemoteIP ASC NULLS LAST, RemotePort ASC NULLS LAST) AS set_Details
FROM {{ ref('stage10_details') }}
GROUP BY DeviceName
