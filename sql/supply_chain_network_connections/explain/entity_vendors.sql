-- explain: the traced device's vendors, with the number of servers each is seen on and whether it is rare.
SELECT
  InitiatingProcessVersionInfoCompanyName AS vendor,
  count(DISTINCT DeviceName) AS servers,
  CASE WHEN count(DISTINCT DeviceName) < {{ param('max_vendor_servers') }} THEN 'rare' ELSE 'common' END AS verdict
FROM {{ ref('server_outbound_events') }}
WHERE InitiatingProcessVersionInfoCompanyName IN (
  SELECT InitiatingProcessVersionInfoCompanyName FROM {{ ref('server_outbound_events') }} WHERE DeviceName = {{ entity }}
)
GROUP BY InitiatingProcessVersionInfoCompanyName
ORDER BY servers, vendor
