-- Stage 11 (summarize make_set(Details) by DeviceName): one row per alerting server.
{# Details are already distinct: baseline has one row per (DeviceName, RemoteIP, RemotePort), and each Details
   holds RemoteIP and RemotePort. So the set is the list, sorted for deterministic output. -#}
SELECT
  DeviceName,
  {{ kql.make_list_sorted('Details', [('RemoteIP', 'string'), ('RemotePort', 'int')]) }} AS set_Details
FROM {{ ref('stage10_details') }}
GROUP BY DeviceName
