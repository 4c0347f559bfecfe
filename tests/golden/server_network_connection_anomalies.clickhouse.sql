-- rule: Server Network Connection Anomalies (server_network_connection_anomalies)
-- dialect: ClickHouse (clickhouse); shape: nested (RemoteIP, set_RemoteUrl, count_, Timestamp, DeviceId, DeviceName, ActionType, RemoteIP1, RemotePort, RemoteUrl, LocalIP, LocalPort, Protocol, LocalIPType, RemoteIPType, InitiatingProcessSHA1, InitiatingProcessSHA256, InitiatingProcessMD5, InitiatingProcessFileName, InitiatingProcessFileSize, InitiatingProcessVersionInfoCompanyName, InitiatingProcessVersionInfoProductName, InitiatingProcessVersionInfoProductVersion, InitiatingProcessVersionInfoInternalFileName, InitiatingProcessVersionInfoOriginalFileName, InitiatingProcessVersionInfoFileDescription, InitiatingProcessId, InitiatingProcessCommandLine, InitiatingProcessCreationTime, InitiatingProcessFolderPath, InitiatingProcessParentFileName, InitiatingProcessParentId, InitiatingProcessParentCreationTime, InitiatingProcessAccountDomain, InitiatingProcessAccountName, InitiatingProcessAccountSid, InitiatingProcessAccountUpn, InitiatingProcessAccountObjectId, InitiatingProcessIntegrityLevel, InitiatingProcessTokenElevation, ReportId, AppGuardContainerId, AdditionalFields, InitiatingProcessSessionId, IsInitiatingProcessRemoteSession, InitiatingProcessRemoteSessionDeviceName, InitiatingProcessRemoteSessionIP, InitiatingProcessUniqueId, LogonID)
-- now = 2026-11-20T12:00:00.000000Z
-- servers = ["a", "b"]
-- lookback = 30 days, 0:00:00 (2.592e+06s)
-- recent = 5 days, 0:00:00 (432000s)
-- max_count = 50
-- known_domains = [".microsoft.com", ".windowsupdate.com", "login.microsoftonline.com", "login.live.com", "autodiscover-s.outlook.com", "ocsp.digicert.com", "ocsp.verisign.com", "login.windows.net", "outlook.office365.com", "accounts.accesscontrol.windows.net"]
-- table DeviceNetworkEvents = "DeviceNetworkEvents"
WITH
stage1_server_connections AS (
-- Stage 1 (where): the listed servers' successful connections to public addresses in the lookback window.
SELECT *
FROM (
  SELECT Timestamp AS Timestamp,
    coalesce(DeviceId, '') AS DeviceId,
    coalesce(DeviceName, '') AS DeviceName,
    coalesce(ActionType, '') AS ActionType,
    coalesce(RemoteIP, '') AS RemoteIP,
    RemotePort AS RemotePort,
    coalesce(RemoteUrl, '') AS RemoteUrl,
    coalesce(LocalIP, '') AS LocalIP,
    LocalPort AS LocalPort,
    coalesce(Protocol, '') AS Protocol,
    coalesce(LocalIPType, '') AS LocalIPType,
    coalesce(RemoteIPType, '') AS RemoteIPType,
    coalesce(InitiatingProcessSHA1, '') AS InitiatingProcessSHA1,
    coalesce(InitiatingProcessSHA256, '') AS InitiatingProcessSHA256,
    coalesce(InitiatingProcessMD5, '') AS InitiatingProcessMD5,
    coalesce(InitiatingProcessFileName, '') AS InitiatingProcessFileName,
    InitiatingProcessFileSize AS InitiatingProcessFileSize,
    coalesce(InitiatingProcessVersionInfoCompanyName, '') AS InitiatingProcessVersionInfoCompanyName,
    coalesce(InitiatingProcessVersionInfoProductName, '') AS InitiatingProcessVersionInfoProductName,
    coalesce(InitiatingProcessVersionInfoProductVersion, '') AS InitiatingProcessVersionInfoProductVersion,
    coalesce(InitiatingProcessVersionInfoInternalFileName, '') AS InitiatingProcessVersionInfoInternalFileName,
    coalesce(InitiatingProcessVersionInfoOriginalFileName, '') AS InitiatingProcessVersionInfoOriginalFileName,
    coalesce(InitiatingProcessVersionInfoFileDescription, '') AS InitiatingProcessVersionInfoFileDescription,
    InitiatingProcessId AS InitiatingProcessId,
    coalesce(InitiatingProcessCommandLine, '') AS InitiatingProcessCommandLine,
    InitiatingProcessCreationTime AS InitiatingProcessCreationTime,
    coalesce(InitiatingProcessFolderPath, '') AS InitiatingProcessFolderPath,
    coalesce(InitiatingProcessParentFileName, '') AS InitiatingProcessParentFileName,
    InitiatingProcessParentId AS InitiatingProcessParentId,
    InitiatingProcessParentCreationTime AS InitiatingProcessParentCreationTime,
    coalesce(InitiatingProcessAccountDomain, '') AS InitiatingProcessAccountDomain,
    coalesce(InitiatingProcessAccountName, '') AS InitiatingProcessAccountName,
    coalesce(InitiatingProcessAccountSid, '') AS InitiatingProcessAccountSid,
    coalesce(InitiatingProcessAccountUpn, '') AS InitiatingProcessAccountUpn,
    coalesce(InitiatingProcessAccountObjectId, '') AS InitiatingProcessAccountObjectId,
    coalesce(InitiatingProcessIntegrityLevel, '') AS InitiatingProcessIntegrityLevel,
    coalesce(InitiatingProcessTokenElevation, '') AS InitiatingProcessTokenElevation,
    ReportId AS ReportId,
    coalesce(AppGuardContainerId, '') AS AppGuardContainerId,
    coalesce(AdditionalFields, '') AS AdditionalFields,
    InitiatingProcessSessionId AS InitiatingProcessSessionId,
    IsInitiatingProcessRemoteSession AS IsInitiatingProcessRemoteSession,
    coalesce(InitiatingProcessRemoteSessionDeviceName, '') AS InitiatingProcessRemoteSessionDeviceName,
    coalesce(InitiatingProcessRemoteSessionIP, '') AS InitiatingProcessRemoteSessionIP,
    coalesce(InitiatingProcessUniqueId, '') AS InitiatingProcessUniqueId,
    LogonID AS LogonID
  FROM "DeviceNetworkEvents"
) AS events
WHERE Timestamp > (CAST('2026-11-20 12:00:00.000000' AS DateTime64(6, 'UTC')) - INTERVAL 720 HOUR)
  AND (DeviceName IN ('a', 'b')) AND ActionType = 'ConnectionSuccess'
  AND RemoteIPType NOT IN ('Private', 'Loopback')
  AND NOT (RemoteIP LIKE '169.254.%')
),
stage2_rare_addresses AS (
-- Stage 2 (summarize make_set(RemoteUrl), count() by RemoteIP | where count_ < max_count): the addresses the
-- servers reached fewer than max_count times, with every URL seen for them.
SELECT
  RemoteIP,
  CAST(arraySort(groupUniqArray(RemoteUrl)) AS Variant(Array(String))) AS set_RemoteUrl,
  CAST(count(*) AS Nullable(Int64)) AS count_
FROM stage1_server_connections
GROUP BY RemoteIP
HAVING count(*) < 50
),
stage3_unknown_destinations AS (
-- Stage 3 (where not (set_RemoteUrl has_any (known_domains))): drop the addresses any of whose URLs is a known
-- destination.
SELECT *
FROM stage2_rare_addresses
WHERE NOT match(translate(toJSONString(variantElement(set_RemoteUrl, 'Array(String)')), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'), '(\\.microsoft\\.com([^a-z0-9]|$))|(\\.windowsupdate\\.com([^a-z0-9]|$))|((^|[^a-z0-9])login\\.microsoftonline\\.com([^a-z0-9]|$))|((^|[^a-z0-9])login\\.live\\.com([^a-z0-9]|$))|((^|[^a-z0-9])autodiscover\\-s\\.outlook\\.com([^a-z0-9]|$))|((^|[^a-z0-9])ocsp\\.digicert\\.com([^a-z0-9]|$))|((^|[^a-z0-9])ocsp\\.verisign\\.com([^a-z0-9]|$))|((^|[^a-z0-9])login\\.windows\\.net([^a-z0-9]|$))|((^|[^a-z0-9])outlook\\.office365\\.com([^a-z0-9]|$))|((^|[^a-z0-9])accounts\\.accesscontrol\\.windows\\.net([^a-z0-9]|$))')
),
recent_server_connections AS (
-- Stage 4's right side: the same filters as Stage 1 over the recent window (the KQL writes them out again).
SELECT *
FROM (
  SELECT Timestamp AS Timestamp,
    coalesce(DeviceId, '') AS DeviceId,
    coalesce(DeviceName, '') AS DeviceName,
    coalesce(ActionType, '') AS ActionType,
    coalesce(RemoteIP, '') AS RemoteIP,
    RemotePort AS RemotePort,
    coalesce(RemoteUrl, '') AS RemoteUrl,
    coalesce(LocalIP, '') AS LocalIP,
    LocalPort AS LocalPort,
    coalesce(Protocol, '') AS Protocol,
    coalesce(LocalIPType, '') AS LocalIPType,
    coalesce(RemoteIPType, '') AS RemoteIPType,
    coalesce(InitiatingProcessSHA1, '') AS InitiatingProcessSHA1,
    coalesce(InitiatingProcessSHA256, '') AS InitiatingProcessSHA256,
    coalesce(InitiatingProcessMD5, '') AS InitiatingProcessMD5,
    coalesce(InitiatingProcessFileName, '') AS InitiatingProcessFileName,
    InitiatingProcessFileSize AS InitiatingProcessFileSize,
    coalesce(InitiatingProcessVersionInfoCompanyName, '') AS InitiatingProcessVersionInfoCompanyName,
    coalesce(InitiatingProcessVersionInfoProductName, '') AS InitiatingProcessVersionInfoProductName,
    coalesce(InitiatingProcessVersionInfoProductVersion, '') AS InitiatingProcessVersionInfoProductVersion,
    coalesce(InitiatingProcessVersionInfoInternalFileName, '') AS InitiatingProcessVersionInfoInternalFileName,
    coalesce(InitiatingProcessVersionInfoOriginalFileName, '') AS InitiatingProcessVersionInfoOriginalFileName,
    coalesce(InitiatingProcessVersionInfoFileDescription, '') AS InitiatingProcessVersionInfoFileDescription,
    InitiatingProcessId AS InitiatingProcessId,
    coalesce(InitiatingProcessCommandLine, '') AS InitiatingProcessCommandLine,
    InitiatingProcessCreationTime AS InitiatingProcessCreationTime,
    coalesce(InitiatingProcessFolderPath, '') AS InitiatingProcessFolderPath,
    coalesce(InitiatingProcessParentFileName, '') AS InitiatingProcessParentFileName,
    InitiatingProcessParentId AS InitiatingProcessParentId,
    InitiatingProcessParentCreationTime AS InitiatingProcessParentCreationTime,
    coalesce(InitiatingProcessAccountDomain, '') AS InitiatingProcessAccountDomain,
    coalesce(InitiatingProcessAccountName, '') AS InitiatingProcessAccountName,
    coalesce(InitiatingProcessAccountSid, '') AS InitiatingProcessAccountSid,
    coalesce(InitiatingProcessAccountUpn, '') AS InitiatingProcessAccountUpn,
    coalesce(InitiatingProcessAccountObjectId, '') AS InitiatingProcessAccountObjectId,
    coalesce(InitiatingProcessIntegrityLevel, '') AS InitiatingProcessIntegrityLevel,
    coalesce(InitiatingProcessTokenElevation, '') AS InitiatingProcessTokenElevation,
    ReportId AS ReportId,
    coalesce(AppGuardContainerId, '') AS AppGuardContainerId,
    coalesce(AdditionalFields, '') AS AdditionalFields,
    InitiatingProcessSessionId AS InitiatingProcessSessionId,
    IsInitiatingProcessRemoteSession AS IsInitiatingProcessRemoteSession,
    coalesce(InitiatingProcessRemoteSessionDeviceName, '') AS InitiatingProcessRemoteSessionDeviceName,
    coalesce(InitiatingProcessRemoteSessionIP, '') AS InitiatingProcessRemoteSessionIP,
    coalesce(InitiatingProcessUniqueId, '') AS InitiatingProcessUniqueId,
    LogonID AS LogonID
  FROM "DeviceNetworkEvents"
) AS events
WHERE Timestamp > (CAST('2026-11-20 12:00:00.000000' AS DateTime64(6, 'UTC')) - INTERVAL 120 HOUR)
  AND (DeviceName IN ('a', 'b')) AND ActionType = 'ConnectionSuccess'
  AND RemoteIPType NOT IN ('Private', 'Loopback')
  AND NOT (RemoteIP LIKE '169.254.%')
),
stage4_recent_events AS (
-- Stage 4 (join kind=inner (recent events) on RemoteIP): every recent event to a rare, unknown address.
SELECT rare."RemoteIP" AS "RemoteIP", rare."set_RemoteUrl" AS "set_RemoteUrl", rare."count_" AS "count_", recent."Timestamp" AS "Timestamp", recent."DeviceId" AS "DeviceId", recent."DeviceName" AS "DeviceName", recent."ActionType" AS "ActionType", recent."RemoteIP" AS "RemoteIP1", recent."RemotePort" AS "RemotePort", recent."RemoteUrl" AS "RemoteUrl", recent."LocalIP" AS "LocalIP", recent."LocalPort" AS "LocalPort", recent."Protocol" AS "Protocol", recent."LocalIPType" AS "LocalIPType", recent."RemoteIPType" AS "RemoteIPType", recent."InitiatingProcessSHA1" AS "InitiatingProcessSHA1", recent."InitiatingProcessSHA256" AS "InitiatingProcessSHA256", recent."InitiatingProcessMD5" AS "InitiatingProcessMD5", recent."InitiatingProcessFileName" AS "InitiatingProcessFileName", recent."InitiatingProcessFileSize" AS "InitiatingProcessFileSize", recent."InitiatingProcessVersionInfoCompanyName" AS "InitiatingProcessVersionInfoCompanyName", recent."InitiatingProcessVersionInfoProductName" AS "InitiatingProcessVersionInfoProductName", recent."InitiatingProcessVersionInfoProductVersion" AS "InitiatingProcessVersionInfoProductVersion", recent."InitiatingProcessVersionInfoInternalFileName" AS "InitiatingProcessVersionInfoInternalFileName", recent."InitiatingProcessVersionInfoOriginalFileName" AS "InitiatingProcessVersionInfoOriginalFileName", recent."InitiatingProcessVersionInfoFileDescription" AS "InitiatingProcessVersionInfoFileDescription", recent."InitiatingProcessId" AS "InitiatingProcessId", recent."InitiatingProcessCommandLine" AS "InitiatingProcessCommandLine", recent."InitiatingProcessCreationTime" AS "InitiatingProcessCreationTime", recent."InitiatingProcessFolderPath" AS "InitiatingProcessFolderPath", recent."InitiatingProcessParentFileName" AS "InitiatingProcessParentFileName", recent."InitiatingProcessParentId" AS "InitiatingProcessParentId", recent."InitiatingProcessParentCreationTime" AS "InitiatingProcessParentCreationTime", recent."InitiatingProcessAccountDomain" AS "InitiatingProcessAccountDomain", recent."InitiatingProcessAccountName" AS "InitiatingProcessAccountName", recent."InitiatingProcessAccountSid" AS "InitiatingProcessAccountSid", recent."InitiatingProcessAccountUpn" AS "InitiatingProcessAccountUpn", recent."InitiatingProcessAccountObjectId" AS "InitiatingProcessAccountObjectId", recent."InitiatingProcessIntegrityLevel" AS "InitiatingProcessIntegrityLevel", recent."InitiatingProcessTokenElevation" AS "InitiatingProcessTokenElevation", recent."ReportId" AS "ReportId", recent."AppGuardContainerId" AS "AppGuardContainerId", recent."AdditionalFields" AS "AdditionalFields", recent."InitiatingProcessSessionId" AS "InitiatingProcessSessionId", recent."IsInitiatingProcessRemoteSession" AS "IsInitiatingProcessRemoteSession", recent."InitiatingProcessRemoteSessionDeviceName" AS "InitiatingProcessRemoteSessionDeviceName", recent."InitiatingProcessRemoteSessionIP" AS "InitiatingProcessRemoteSessionIP", recent."InitiatingProcessUniqueId" AS "InitiatingProcessUniqueId", recent."LogonID" AS "LogonID"
FROM stage3_unknown_destinations AS rare
JOIN recent_server_connections AS recent
  ON rare.RemoteIP = recent.RemoteIP
)
SELECT * FROM stage4_recent_events ORDER BY RemoteIP ASC NULLS LAST, Timestamp ASC NULLS LAST, DeviceName ASC NULLS LAST, ReportId ASC NULLS LAST, DeviceId ASC NULLS LAST, ActionType ASC NULLS LAST, RemotePort ASC NULLS LAST, RemoteUrl ASC NULLS LAST, LocalIP ASC NULLS LAST, LocalPort ASC NULLS LAST, Protocol ASC NULLS LAST, LocalIPType ASC NULLS LAST, RemoteIPType ASC NULLS LAST, InitiatingProcessSHA1 ASC NULLS LAST, InitiatingProcessSHA256 ASC NULLS LAST, InitiatingProcessMD5 ASC NULLS LAST, InitiatingProcessFileName ASC NULLS LAST, InitiatingProcessFileSize ASC NULLS LAST, InitiatingProcessVersionInfoCompanyName ASC NULLS LAST, InitiatingProcessVersionInfoProductName ASC NULLS LAST, InitiatingProcessVersionInfoProductVersion ASC NULLS LAST, InitiatingProcessVersionInfoInternalFileName ASC NULLS LAST, InitiatingProcessVersionInfoOriginalFileName ASC NULLS LAST, InitiatingProcessVersionInfoFileDescription ASC NULLS LAST, InitiatingProcessId ASC NULLS LAST, InitiatingProcessCommandLine ASC NULLS LAST, InitiatingProcessCreationTime ASC NULLS LAST, InitiatingProcessFolderPath ASC NULLS LAST, InitiatingProcessParentFileName ASC NULLS LAST, InitiatingProcessParentId ASC NULLS LAST, InitiatingProcessParentCreationTime ASC NULLS LAST, InitiatingProcessAccountDomain ASC NULLS LAST, InitiatingProcessAccountName ASC NULLS LAST, InitiatingProcessAccountSid ASC NULLS LAST, InitiatingProcessAccountUpn ASC NULLS LAST, InitiatingProcessAccountObjectId ASC NULLS LAST, InitiatingProcessIntegrityLevel ASC NULLS LAST, InitiatingProcessTokenElevation ASC NULLS LAST, AppGuardContainerId ASC NULLS LAST, AdditionalFields ASC NULLS LAST, InitiatingProcessSessionId ASC NULLS LAST, IsInitiatingProcessRemoteSession ASC NULLS LAST, InitiatingProcessRemoteSessionDeviceName ASC NULLS LAST, InitiatingProcessRemoteSessionIP ASC NULLS LAST, InitiatingProcessUniqueId ASC NULLS LAST, LogonID ASC NULLS LAST
SETTINGS join_use_nulls = 1, output_format_json_escape_forward_slashes = 0;
