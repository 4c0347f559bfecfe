-- rule: Suspicious Network Connections - Supply Chain Attack (supply_chain_network_connections)
-- now = 2026-11-20T12:00:00.000000Z
-- lookback = 14 days, 0:00:00 (1.2096e+06s)
-- new_window = 1 day, 0:00:00 (86400s)
-- prevalence_window = 5 days, 0:00:00 (432000s)
-- max_vendor_servers = 10
-- max_prevalence = 6
-- excluded_action_types = ListeningConnectionCreated
-- excluded_ip_types = Private, Loopback
WITH
server_list AS (
-- let server_list: every device that called itself a server (not a Workstation, not macOS, OS known)
-- in the lookback window. make_set(DeviceName) is this one-column set.
SELECT DISTINCT DeviceName
FROM (
  SELECT Timestamp AS Timestamp,
    coalesce(DeviceName, '') AS DeviceName,
    coalesce(DeviceType, '') AS DeviceType,
    coalesce(OSPlatform, '') AS OSPlatform
  FROM "DeviceInfo"
) AS device_info
WHERE Timestamp > (CAST('2026-11-20 12:00:00.000000+00:00' AS TIMESTAMPTZ) - INTERVAL '14' DAY)
  AND (coalesce(OSPlatform, '') <> '')
  AND DeviceType <> 'Workstation' AND OSPlatform <> 'macOS'
),
server_outbound_events AS (
-- let ServersWithThirdPartyApps, its input: the servers' outbound public connections in the lookback window
-- (the KQL writes this sub-query twice, once per side of its join; it is one set of rows).
SELECT *
FROM (
  SELECT Timestamp AS Timestamp,
    coalesce(DeviceId, '') AS DeviceId,
    coalesce(DeviceName, '') AS DeviceName,
    coalesce(ActionType, '') AS ActionType,
    coalesce(RemoteIP, '') AS RemoteIP,
    RemotePort AS RemotePort,
    coalesce(RemoteUrl, '') AS RemoteUrl,
    coalesce(RemoteIPType, '') AS RemoteIPType,
    coalesce(InitiatingProcessVersionInfoCompanyName, '') AS InitiatingProcessVersionInfoCompanyName
  FROM "DeviceNetworkEvents"
) AS events
WHERE Timestamp > (CAST('2026-11-20 12:00:00.000000+00:00' AS TIMESTAMPTZ) - INTERVAL '14' DAY)
  AND (DeviceName IN (SELECT DeviceName FROM server_list))
  AND (NOT (ActionType IN ('ListeningConnectionCreated')))
  AND ((NOT (RemoteIPType IN ('Private', 'Loopback')))
    AND NOT (RemoteIPType = 'FourToSixMapping' AND (lower(RemoteIP) LIKE '::ffff:%')))
),
vendor_server_counts AS (
-- let ServersWithThirdPartyApps, first half: vendors seen on fewer than max_vendor_servers servers.
SELECT
  InitiatingProcessVersionInfoCompanyName,
  count(DISTINCT DeviceName) AS dcount_DeviceName
FROM server_outbound_events
GROUP BY InitiatingProcessVersionInfoCompanyName
HAVING count(DISTINCT DeviceName) < 10
),
servers_with_third_party_apps AS (
-- let ServersWithThirdPartyApps: the servers that ran software from one of those rare vendors.
SELECT DISTINCT events.DeviceName
FROM vendor_server_counts AS vendors
JOIN server_outbound_events AS events
  ON events.InitiatingProcessVersionInfoCompanyName = vendors.InitiatingProcessVersionInfoCompanyName
),
stage1_source AS (
-- Stage 1 (source): every network event, strings read as never-null.
SELECT Timestamp AS Timestamp,
    coalesce(DeviceId, '') AS DeviceId,
    coalesce(DeviceName, '') AS DeviceName,
    coalesce(ActionType, '') AS ActionType,
    coalesce(RemoteIP, '') AS RemoteIP,
    RemotePort AS RemotePort,
    coalesce(RemoteUrl, '') AS RemoteUrl,
    coalesce(RemoteIPType, '') AS RemoteIPType,
    coalesce(InitiatingProcessVersionInfoCompanyName, '') AS InitiatingProcessVersionInfoCompanyName
FROM "DeviceNetworkEvents"
),
stage2_lookback AS (
-- Stage 2 (where): events newer than the lookback window; the edge itself is out (strict `>`).
SELECT *
FROM stage1_source
WHERE Timestamp > (CAST('2026-11-20 12:00:00.000000+00:00' AS TIMESTAMPTZ) - INTERVAL '14' DAY)
),
stage3_third_party_servers AS (
-- Stage 3 (where): only the servers that run third-party software.
SELECT *
FROM stage2_lookback
WHERE (DeviceName IN (SELECT DeviceName FROM servers_with_third_party_apps))
),
stage4_action_type AS (
-- Stage 4 (where): drop listening sockets (and any other excluded ActionType).
SELECT *
FROM stage3_third_party_servers
WHERE (NOT (ActionType IN ('ListeningConnectionCreated')))
),
stage5_remote_ip_type AS (
-- Stage 5 (where): drop private and loopback peers, and IPv4 addresses mapped into IPv6 (::ffff:a.b.c.d).
SELECT *
FROM stage4_action_type
WHERE ((NOT (RemoteIPType IN ('Private', 'Loopback')))
    AND NOT (RemoteIPType = 'FourToSixMapping' AND (lower(RemoteIP) LIKE '::ffff:%')))
),
baseline AS (
-- Stage 6 (summarize), let baseline: per server and destination, how often and when first and last seen.
SELECT
  DeviceName,
  RemoteIP,
  RemotePort,
  count(*) AS "Count",
  min(Timestamp) AS starttime,
  max(Timestamp) AS endtime
FROM stage5_remote_ip_type
GROUP BY DeviceName, RemoteIP, RemotePort
),
destinations AS (
-- let Destinations: every remote address in the whole baseline (not only the new connections).
SELECT DISTINCT RemoteIP
FROM baseline
),
stage7_new_connections AS (
-- Stage 7 (where): connections first seen within the new window.
SELECT *
FROM baseline
WHERE starttime > (CAST('2026-11-20 12:00:00.000000+00:00' AS TIMESTAMPTZ) - INTERVAL '1' DAY)
),
prevalence AS (
-- Stage 8's right side: how many devices of the WHOLE fleet contacted each destination in the prevalence
-- window, and with which URLs. No server, ActionType or RemoteIPType filter here (semantics 6).
SELECT
  RemoteIP,
  count(DISTINCT DeviceId) AS Prevalence,
  list(DISTINCT RemoteUrl ORDER BY RemoteUrl) FILTER (WHERE RemoteUrl IS NOT NULL) AS URLs
FROM (
  SELECT Timestamp AS Timestamp,
    coalesce(DeviceId, '') AS DeviceId,
    coalesce(DeviceName, '') AS DeviceName,
    coalesce(ActionType, '') AS ActionType,
    coalesce(RemoteIP, '') AS RemoteIP,
    RemotePort AS RemotePort,
    coalesce(RemoteUrl, '') AS RemoteUrl,
    coalesce(RemoteIPType, '') AS RemoteIPType,
    coalesce(InitiatingProcessVersionInfoCompanyName, '') AS InitiatingProcessVersionInfoCompanyName
  FROM "DeviceNetworkEvents"
) AS events
WHERE Timestamp > (CAST('2026-11-20 12:00:00.000000+00:00' AS TIMESTAMPTZ) - INTERVAL '5' DAY)
  AND (RemoteIP IN (SELECT RemoteIP FROM destinations))
GROUP BY RemoteIP
),
stage8_lookup AS (
-- Stage 8 (lookup kind=leftouter): every new connection keeps its row; Prevalence and URLs stay null
-- when the destination has no row on the right. The key column is not repeated.
SELECT
  new_connections.*,
  prevalence.Prevalence,
  prevalence.URLs
FROM stage7_new_connections AS new_connections
LEFT JOIN prevalence AS prevalence
  ON new_connections.RemoteIP = prevalence.RemoteIP
),
stage9_rare_destinations AS (
-- Stage 9 (where): destinations contacted by fewer than max_prevalence devices, or never looked up.
SELECT *
FROM stage8_lookup
WHERE Prevalence < 6 OR (Prevalence IS NULL)
),
stage10_details AS (
-- Stage 10 (extend): pack each alerting connection into one Details object (null values are kept).
SELECT
  DeviceName,
  RemoteIP,
  RemotePort,
  struct_pack(RemoteIP := RemoteIP, RemotePort := RemotePort, "Count" := "Count", Prevalence := Prevalence, URLs := URLs) AS Details
FROM stage9_rare_destinations
),
stage11_by_device AS (
-- Stage 11 (summarize make_set(Details) by DeviceName): one row per alerting server.
SELECT
  DeviceName,
  list(Details ORDER BY RemoteIP ASC NULLS LAST, RemotePort ASC NULLS LAST) AS set_Details
FROM stage10_details
GROUP BY DeviceName
)
SELECT * FROM stage11_by_device ORDER BY DeviceName ASC NULLS LAST;
