-- let ServersWithThirdPartyApps: the servers that ran software from one of those rare vendors.
{# join kind=inner on the company, then make_set(DeviceName). "" matches "" (semantics 1).
   KQL materializes this let: a speed hint, written where the engine takes it. -#}
{% set hint = kql.materialize() -%}
SELECT DISTINCT events.DeviceName AS DeviceName
FROM {{ ref('vendor_server_counts') }} AS vendors
JOIN {{ ref('server_outbound_events') }} AS events
  ON events.InitiatingProcessVersionInfoCompanyName = vendors.InitiatingProcessVersionInfoCompanyName
