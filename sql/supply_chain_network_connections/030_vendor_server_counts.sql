-- let ServersWithThirdPartyApps, first half: vendors seen on fewer than max_vendor_servers servers.
{# A missing company reads as "" and is one group like any other (semantics 1). -#}
SELECT
  InitiatingProcessVersionInfoCompanyName,
  {{ kql.dcount('DeviceName') }} AS dcount_DeviceName
FROM {{ ref('server_outbound_events') }}
GROUP BY InitiatingProcessVersionInfoCompanyName
HAVING {{ kql.dcount('DeviceName') }} < {{ param('max_vendor_servers') }}
