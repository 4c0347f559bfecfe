-- rule: Suspicious Network Connections - Supply Chain Attack (supply_chain_network_connections)
-- dialect: ClickHouse (clickhouse); shape: nested (DeviceName, set_Details)
-- now = 2026-11-20T12:00:00.000000Z
-- lookback = 14 days, 0:00:00 (1.2096e+06s)
-- new_window = 1 day, 0:00:00 (86400s)
-- prevalence_window = 5 days, 0:00:00 (432000s)
-- max_vendor_servers = 10
-- max_prevalence = 6
-- excluded_action_types = ["ListeningConnectionCreated"]
-- excluded_ip_types = ["Private", "Loopback"]
-- privileged_servers = (not set)
-- trusted_urls = (not set)
-- table DeviceInfo = "DeviceInfo"
-- table DeviceNetworkEvents = "DeviceNetworkEvents"
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
WHERE Timestamp > (CAST('2026-11-20 12:00:00.000000' AS DateTime64(6, 'UTC')) - INTERVAL 336 HOUR)
  AND (coalesce(OSPlatform, '') <> '')
  AND DeviceType <> 'Workstation' AND OSPlatform <> 'macOS'
),
server_outbound_events AS (
-- let ServersWithThirdPartyApps, its input, summarized (plan "fast"): the servers' outbound public connections
-- in the lookback window, one row per server, vendor and destination, so the table is read once for all three uses.
SELECT
  DeviceName,
  InitiatingProcessVersionInfoCompanyName,
  RemoteIP,
  RemotePort,
  count(*) AS events,
  min(Timestamp) AS first_seen,
  max(Timestamp) AS last_seen
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
WHERE Timestamp > (CAST('2026-11-20 12:00:00.000000' AS DateTime64(6, 'UTC')) - INTERVAL 336 HOUR)
  AND (DeviceName IN (SELECT DeviceName FROM server_list))
  AND (NOT (ActionType IN ('ListeningConnectionCreated')))
  AND ((NOT (RemoteIPType IN ('Private', 'Loopback')))
    AND NOT (RemoteIPType = 'FourToSixMapping' AND (lower(RemoteIP) LIKE '::ffff:%')))
GROUP BY DeviceName, InitiatingProcessVersionInfoCompanyName, RemoteIP, RemotePort
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
SELECT DISTINCT events.DeviceName AS DeviceName
FROM vendor_server_counts AS vendors
JOIN server_outbound_events AS events
  ON events.InitiatingProcessVersionInfoCompanyName = vendors.InitiatingProcessVersionInfoCompanyName
),
baseline AS (
-- Stage 6 (summarize), let baseline (plan "fast"): Stages 1 to 5 keep the third-party servers' outbound public
-- connections, a subset of ServersWithThirdPartyApps' input, so the baseline re-sums those rows.
SELECT
  DeviceName,
  RemoteIP,
  RemotePort,
  CAST(sum(events) AS Nullable(Int64)) AS "Count",
  min(first_seen) AS starttime,
  max(last_seen) AS endtime
FROM server_outbound_events
WHERE (DeviceName IN (SELECT DeviceName FROM servers_with_third_party_apps))
GROUP BY DeviceName, RemoteIP, RemotePort
),
stage7_new_connections AS (
-- Stage 7 (where): connections first seen within the new window.
SELECT *
FROM baseline
WHERE starttime > (CAST('2026-11-20 12:00:00.000000' AS DateTime64(6, 'UTC')) - INTERVAL 24 HOUR)
),
prevalence AS (
-- Stage 8's right side (plan "fast"): the whole fleet's prevalence, counted only for the addresses of the new
-- connections, the only rows the lookup keeps (Destinations is their superset).
SELECT
  RemoteIP,
  count(DISTINCT DeviceId) AS Prevalence,
  CAST(arraySort(groupUniqArray(RemoteUrl)) AS Variant(Array(String))) AS URLs
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
WHERE Timestamp > (CAST('2026-11-20 12:00:00.000000' AS DateTime64(6, 'UTC')) - INTERVAL 120 HOUR)
  AND (RemoteIP IN (SELECT RemoteIP FROM stage7_new_connections))
GROUP BY RemoteIP
),
stage8_lookup AS (
-- Stage 8 (lookup kind=leftouter): every new connection keeps its row; Prevalence and URLs stay null
-- when the destination has no row on the right. The key column is not repeated.
SELECT
  new_connections.*,
  prevalence.Prevalence AS Prevalence,
  prevalence.URLs AS URLs
FROM stage7_new_connections AS new_connections
LEFT JOIN prevalence AS prevalence
  ON new_connections.RemoteIP = prevalence.RemoteIP
),
stage9_rare_destinations AS (
-- Stage 9 (where): destinations contacted by fewer than max_prevalence devices, or never looked up.
SELECT *
FROM stage8_lookup
WHERE (Prevalence < 6 OR (Prevalence IS NULL))
),
stage10_details AS (
-- Stage 10 (extend): pack each alerting connection into one Details object (null values are kept).
SELECT
  DeviceName,
  RemoteIP,
  RemotePort,
  CAST(tuple(RemoteIP, RemotePort, "Count", Prevalence, URLs) AS Tuple(RemoteIP Nullable(String), RemotePort Nullable(Int32), "Count" Nullable(Int64), Prevalence Nullable(Int64), URLs Variant(Array(String)))) AS Details
FROM stage9_rare_destinations
),
stage11_by_device AS (
-- Stage 11 (summarize make_set(Details) by DeviceName): one row per alerting server.
SELECT
  DeviceName,
  arraySort((v, k) -> k, groupArray(Details), groupArray(tuple(RemoteIP IS NULL, RemoteIP, RemotePort IS NULL, RemotePort))) AS set_Details
FROM stage10_details
GROUP BY DeviceName
)
SELECT * FROM stage11_by_device ORDER BY DeviceName ASC NULLS LAST
SETTINGS join_use_nulls = 1, output_format_json_escape_forward_slashes = 0;
