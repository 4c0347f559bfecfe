-- explain: the rare vendors (let ServersWithThirdPartyApps, first half), most widespread first.
SELECT
  InitiatingProcessVersionInfoCompanyName AS vendor,
  dcount_DeviceName AS servers
FROM {{ ref('vendor_server_counts') }}
ORDER BY dcount_DeviceName DESC, InitiatingProcessVersionInfoCompanyName
LIMIT 25
