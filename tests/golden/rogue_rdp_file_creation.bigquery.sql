-- rule: Rouge RDP: Suspicious File Creation (rogue_rdp_file_creation)
-- dialect: BigQuery (bigquery); shape: nested (Timestamp, DeviceId, DeviceName, InitiatingProcessFileName, InitiatingProcessId, RemoteIP, RemoteUrl, RemotePort, NetworkTimestamp, Timestamp1, DeviceId1, DeviceName1, ActionType, FileName, FolderPath, SHA1, SHA256, MD5, FileOriginUrl, FileOriginReferrerUrl, FileOriginIP, PreviousFolderPath, PreviousFileName, FileSize, InitiatingProcessAccountDomain, InitiatingProcessAccountName, InitiatingProcessAccountSid, InitiatingProcessAccountUpn, InitiatingProcessAccountObjectId, InitiatingProcessMD5, InitiatingProcessSHA1, InitiatingProcessSHA256, InitiatingProcessFolderPath, InitiatingProcessFileName1, InitiatingProcessFileSize, InitiatingProcessVersionInfoCompanyName, InitiatingProcessVersionInfoProductName, InitiatingProcessVersionInfoProductVersion, InitiatingProcessVersionInfoInternalFileName, InitiatingProcessVersionInfoOriginalFileName, InitiatingProcessVersionInfoFileDescription, InitiatingProcessId1, InitiatingProcessCommandLine, InitiatingProcessCreationTime, InitiatingProcessIntegrityLevel, InitiatingProcessTokenElevation, InitiatingProcessParentId, InitiatingProcessParentFileName, InitiatingProcessParentCreationTime, RequestProtocol, RequestSourceIP, RequestSourcePort, RequestAccountName, RequestAccountDomain, RequestAccountSid, ShareName, SensitivityLabel, SensitivitySubLabel, IsAzureInfoProtectionApplied, ReportId, AppGuardContainerId, AdditionalFields, InitiatingProcessSessionId, IsInitiatingProcessRemoteSession, InitiatingProcessRemoteSessionDeviceName, InitiatingProcessRemoteSessionIP, InitiatingProcessUniqueId, LogonID, FileTimestamp)
-- now = 2026-11-20T12:00:00.000000Z
-- query_period = 7 days, 0:00:00 (604800s)
-- file_types = [".dll", ".exe", ".cpl", ".pif", ".com", ".js", ".vbs", ".wsh", ".vbe", ".jse", ".bat", ".cmd", ".lnk", ".url", ".png", ".hta", ".svg"]
-- max_minutes = 60
-- table DeviceNetworkEvents = `DeviceNetworkEvents`
-- table DeviceFileEvents = `DeviceFileEvents`
WITH
stage1_mstsc_connections AS (
-- Stage 1 (DeviceNetworkEvents | where ...): the Remote Desktop client's (mstsc.exe) successful connections to
-- public addresses within the query period.
SELECT *
FROM (
  SELECT Timestamp AS Timestamp,
    coalesce(DeviceId, '') AS DeviceId,
    coalesce(DeviceName, '') AS DeviceName,
    coalesce(ActionType, '') AS ActionType,
    coalesce(InitiatingProcessFileName, '') AS InitiatingProcessFileName,
    InitiatingProcessId AS InitiatingProcessId,
    coalesce(RemoteIP, '') AS RemoteIP,
    coalesce(RemoteUrl, '') AS RemoteUrl,
    RemotePort AS RemotePort,
    coalesce(RemoteIPType, '') AS RemoteIPType
  FROM `DeviceNetworkEvents`
) AS network_events
WHERE Timestamp > (CAST('2026-11-20 12:00:00.000000+00:00' AS TIMESTAMP) - INTERVAL 168 HOUR)
  AND ActionType IN ('ConnectionSuccess')
  AND (lower(InitiatingProcessFileName) = 'mstsc.exe' AND translate(InitiatingProcessFileName, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') = 'mstsc.exe')
  AND RemoteIPType = 'Public'
),
stage2_project AS (
-- Stage 2 (project): exactly these nine columns in this order; the process name lower-cased (the join key) and
-- the connection's time kept a second time as NetworkTimestamp.
SELECT
  Timestamp,
  DeviceId,
  DeviceName,
  lower(InitiatingProcessFileName) AS InitiatingProcessFileName,
  InitiatingProcessId,
  RemoteIP,
  RemoteUrl,
  RemotePort,
  Timestamp AS NetworkTimestamp
FROM stage1_mstsc_connections
),
mstsc_file_events AS (
-- Stage 3's right side (the join's sub-query): files of a watched type that mstsc.exe created or modified within
-- the query period, every DeviceFileEvents column in Microsoft's order, the process name lower-cased in its own
-- place (extend of an existing column keeps its position) and FileTimestamp = Timestamp added last.
SELECT
  Timestamp,
  DeviceId,
  DeviceName,
  ActionType,
  FileName,
  FolderPath,
  SHA1,
  SHA256,
  MD5,
  FileOriginUrl,
  FileOriginReferrerUrl,
  FileOriginIP,
  PreviousFolderPath,
  PreviousFileName,
  FileSize,
  InitiatingProcessAccountDomain,
  InitiatingProcessAccountName,
  InitiatingProcessAccountSid,
  InitiatingProcessAccountUpn,
  InitiatingProcessAccountObjectId,
  InitiatingProcessMD5,
  InitiatingProcessSHA1,
  InitiatingProcessSHA256,
  InitiatingProcessFolderPath,
  lower(InitiatingProcessFileName) AS InitiatingProcessFileName,
  InitiatingProcessFileSize,
  InitiatingProcessVersionInfoCompanyName,
  InitiatingProcessVersionInfoProductName,
  InitiatingProcessVersionInfoProductVersion,
  InitiatingProcessVersionInfoInternalFileName,
  InitiatingProcessVersionInfoOriginalFileName,
  InitiatingProcessVersionInfoFileDescription,
  InitiatingProcessId,
  InitiatingProcessCommandLine,
  InitiatingProcessCreationTime,
  InitiatingProcessIntegrityLevel,
  InitiatingProcessTokenElevation,
  InitiatingProcessParentId,
  InitiatingProcessParentFileName,
  InitiatingProcessParentCreationTime,
  RequestProtocol,
  RequestSourceIP,
  RequestSourcePort,
  RequestAccountName,
  RequestAccountDomain,
  RequestAccountSid,
  ShareName,
  SensitivityLabel,
  SensitivitySubLabel,
  IsAzureInfoProtectionApplied,
  ReportId,
  AppGuardContainerId,
  AdditionalFields,
  InitiatingProcessSessionId,
  IsInitiatingProcessRemoteSession,
  InitiatingProcessRemoteSessionDeviceName,
  InitiatingProcessRemoteSessionIP,
  InitiatingProcessUniqueId,
  LogonID,
  Timestamp AS FileTimestamp
FROM (
  SELECT *
  FROM (
    SELECT Timestamp AS Timestamp,
    coalesce(DeviceId, '') AS DeviceId,
    coalesce(DeviceName, '') AS DeviceName,
    coalesce(ActionType, '') AS ActionType,
    coalesce(FileName, '') AS FileName,
    coalesce(FolderPath, '') AS FolderPath,
    coalesce(SHA1, '') AS SHA1,
    coalesce(SHA256, '') AS SHA256,
    coalesce(MD5, '') AS MD5,
    coalesce(FileOriginUrl, '') AS FileOriginUrl,
    coalesce(FileOriginReferrerUrl, '') AS FileOriginReferrerUrl,
    coalesce(FileOriginIP, '') AS FileOriginIP,
    coalesce(PreviousFolderPath, '') AS PreviousFolderPath,
    coalesce(PreviousFileName, '') AS PreviousFileName,
    FileSize AS FileSize,
    coalesce(InitiatingProcessAccountDomain, '') AS InitiatingProcessAccountDomain,
    coalesce(InitiatingProcessAccountName, '') AS InitiatingProcessAccountName,
    coalesce(InitiatingProcessAccountSid, '') AS InitiatingProcessAccountSid,
    coalesce(InitiatingProcessAccountUpn, '') AS InitiatingProcessAccountUpn,
    coalesce(InitiatingProcessAccountObjectId, '') AS InitiatingProcessAccountObjectId,
    coalesce(InitiatingProcessMD5, '') AS InitiatingProcessMD5,
    coalesce(InitiatingProcessSHA1, '') AS InitiatingProcessSHA1,
    coalesce(InitiatingProcessSHA256, '') AS InitiatingProcessSHA256,
    coalesce(InitiatingProcessFolderPath, '') AS InitiatingProcessFolderPath,
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
    coalesce(InitiatingProcessIntegrityLevel, '') AS InitiatingProcessIntegrityLevel,
    coalesce(InitiatingProcessTokenElevation, '') AS InitiatingProcessTokenElevation,
    InitiatingProcessParentId AS InitiatingProcessParentId,
    coalesce(InitiatingProcessParentFileName, '') AS InitiatingProcessParentFileName,
    InitiatingProcessParentCreationTime AS InitiatingProcessParentCreationTime,
    coalesce(RequestProtocol, '') AS RequestProtocol,
    coalesce(RequestSourceIP, '') AS RequestSourceIP,
    RequestSourcePort AS RequestSourcePort,
    coalesce(RequestAccountName, '') AS RequestAccountName,
    coalesce(RequestAccountDomain, '') AS RequestAccountDomain,
    coalesce(RequestAccountSid, '') AS RequestAccountSid,
    coalesce(ShareName, '') AS ShareName,
    coalesce(SensitivityLabel, '') AS SensitivityLabel,
    coalesce(SensitivitySubLabel, '') AS SensitivitySubLabel,
    IsAzureInfoProtectionApplied AS IsAzureInfoProtectionApplied,
    ReportId AS ReportId,
    coalesce(AppGuardContainerId, '') AS AppGuardContainerId,
    coalesce(AdditionalFields, '') AS AdditionalFields,
    InitiatingProcessSessionId AS InitiatingProcessSessionId,
    IsInitiatingProcessRemoteSession AS IsInitiatingProcessRemoteSession,
    coalesce(InitiatingProcessRemoteSessionDeviceName, '') AS InitiatingProcessRemoteSessionDeviceName,
    coalesce(InitiatingProcessRemoteSessionIP, '') AS InitiatingProcessRemoteSessionIP,
    coalesce(InitiatingProcessUniqueId, '') AS InitiatingProcessUniqueId,
    LogonID AS LogonID
    FROM `DeviceFileEvents`
  ) AS file_events
  WHERE Timestamp > (CAST('2026-11-20 12:00:00.000000+00:00' AS TIMESTAMP) - INTERVAL 168 HOUR)
    AND ActionType IN ('FileCreated', 'FileModified')
    AND (lower(InitiatingProcessFileName) = 'mstsc.exe' AND translate(InitiatingProcessFileName, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') = 'mstsc.exe')
    AND REGEXP_CONTAINS(translate(FileName, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'), '(\\.dll([^a-z0-9]|$))|(\\.exe([^a-z0-9]|$))|(\\.cpl([^a-z0-9]|$))|(\\.pif([^a-z0-9]|$))|(\\.com([^a-z0-9]|$))|(\\.js([^a-z0-9]|$))|(\\.vbs([^a-z0-9]|$))|(\\.wsh([^a-z0-9]|$))|(\\.vbe([^a-z0-9]|$))|(\\.jse([^a-z0-9]|$))|(\\.bat([^a-z0-9]|$))|(\\.cmd([^a-z0-9]|$))|(\\.lnk([^a-z0-9]|$))|(\\.url([^a-z0-9]|$))|(\\.png([^a-z0-9]|$))|(\\.hta([^a-z0-9]|$))|(\\.svg([^a-z0-9]|$))')
) AS mstsc_files
),
stage3_join AS (
-- Stage 3 (join kind=inner on InitiatingProcessFileName, DeviceId): every connection with every file event of the
-- same device (DeviceId, not DeviceName) and process; the right side's columns follow the left's, a taken name
-- numbered as Kusto does (Timestamp1, DeviceId1, DeviceName1, InitiatingProcessFileName1, InitiatingProcessId1).
SELECT connections.`Timestamp` AS `Timestamp`, connections.`DeviceId` AS `DeviceId`, connections.`DeviceName` AS `DeviceName`, connections.`InitiatingProcessFileName` AS `InitiatingProcessFileName`, connections.`InitiatingProcessId` AS `InitiatingProcessId`, connections.`RemoteIP` AS `RemoteIP`, connections.`RemoteUrl` AS `RemoteUrl`, connections.`RemotePort` AS `RemotePort`, connections.`NetworkTimestamp` AS `NetworkTimestamp`, files.`Timestamp` AS `Timestamp1`, files.`DeviceId` AS `DeviceId1`, files.`DeviceName` AS `DeviceName1`, files.`ActionType` AS `ActionType`, files.`FileName` AS `FileName`, files.`FolderPath` AS `FolderPath`, files.`SHA1` AS `SHA1`, files.`SHA256` AS `SHA256`, files.`MD5` AS `MD5`, files.`FileOriginUrl` AS `FileOriginUrl`, files.`FileOriginReferrerUrl` AS `FileOriginReferrerUrl`, files.`FileOriginIP` AS `FileOriginIP`, files.`PreviousFolderPath` AS `PreviousFolderPath`, files.`PreviousFileName` AS `PreviousFileName`, files.`FileSize` AS `FileSize`, files.`InitiatingProcessAccountDomain` AS `InitiatingProcessAccountDomain`, files.`InitiatingProcessAccountName` AS `InitiatingProcessAccountName`, files.`InitiatingProcessAccountSid` AS `InitiatingProcessAccountSid`, files.`InitiatingProcessAccountUpn` AS `InitiatingProcessAccountUpn`, files.`InitiatingProcessAccountObjectId` AS `InitiatingProcessAccountObjectId`, files.`InitiatingProcessMD5` AS `InitiatingProcessMD5`, files.`InitiatingProcessSHA1` AS `InitiatingProcessSHA1`, files.`InitiatingProcessSHA256` AS `InitiatingProcessSHA256`, files.`InitiatingProcessFolderPath` AS `InitiatingProcessFolderPath`, files.`InitiatingProcessFileName` AS `InitiatingProcessFileName1`, files.`InitiatingProcessFileSize` AS `InitiatingProcessFileSize`, files.`InitiatingProcessVersionInfoCompanyName` AS `InitiatingProcessVersionInfoCompanyName`, files.`InitiatingProcessVersionInfoProductName` AS `InitiatingProcessVersionInfoProductName`, files.`InitiatingProcessVersionInfoProductVersion` AS `InitiatingProcessVersionInfoProductVersion`, files.`InitiatingProcessVersionInfoInternalFileName` AS `InitiatingProcessVersionInfoInternalFileName`, files.`InitiatingProcessVersionInfoOriginalFileName` AS `InitiatingProcessVersionInfoOriginalFileName`, files.`InitiatingProcessVersionInfoFileDescription` AS `InitiatingProcessVersionInfoFileDescription`, files.`InitiatingProcessId` AS `InitiatingProcessId1`, files.`InitiatingProcessCommandLine` AS `InitiatingProcessCommandLine`, files.`InitiatingProcessCreationTime` AS `InitiatingProcessCreationTime`, files.`InitiatingProcessIntegrityLevel` AS `InitiatingProcessIntegrityLevel`, files.`InitiatingProcessTokenElevation` AS `InitiatingProcessTokenElevation`, files.`InitiatingProcessParentId` AS `InitiatingProcessParentId`, files.`InitiatingProcessParentFileName` AS `InitiatingProcessParentFileName`, files.`InitiatingProcessParentCreationTime` AS `InitiatingProcessParentCreationTime`, files.`RequestProtocol` AS `RequestProtocol`, files.`RequestSourceIP` AS `RequestSourceIP`, files.`RequestSourcePort` AS `RequestSourcePort`, files.`RequestAccountName` AS `RequestAccountName`, files.`RequestAccountDomain` AS `RequestAccountDomain`, files.`RequestAccountSid` AS `RequestAccountSid`, files.`ShareName` AS `ShareName`, files.`SensitivityLabel` AS `SensitivityLabel`, files.`SensitivitySubLabel` AS `SensitivitySubLabel`, files.`IsAzureInfoProtectionApplied` AS `IsAzureInfoProtectionApplied`, files.`ReportId` AS `ReportId`, files.`AppGuardContainerId` AS `AppGuardContainerId`, files.`AdditionalFields` AS `AdditionalFields`, files.`InitiatingProcessSessionId` AS `InitiatingProcessSessionId`, files.`IsInitiatingProcessRemoteSession` AS `IsInitiatingProcessRemoteSession`, files.`InitiatingProcessRemoteSessionDeviceName` AS `InitiatingProcessRemoteSessionDeviceName`, files.`InitiatingProcessRemoteSessionIP` AS `InitiatingProcessRemoteSessionIP`, files.`InitiatingProcessUniqueId` AS `InitiatingProcessUniqueId`, files.`LogonID` AS `LogonID`, files.`FileTimestamp` AS `FileTimestamp`
FROM stage2_project AS connections
JOIN mstsc_file_events AS files
  ON connections.InitiatingProcessFileName = files.InitiatingProcessFileName
  AND connections.DeviceId = files.DeviceId
),
stage4_minutes_apart AS (
-- Stage 4 (where datetime_diff('minute', FileTimestamp, NetworkTimestamp) < max_minutes): the pairs whose file
-- event is fewer than max_minutes minute boundaries after the connection, or before it (a negative difference).
SELECT *
FROM stage3_join
WHERE CAST(floor(CAST(UNIX_MICROS(FileTimestamp) AS FLOAT64) / 60000000) - floor(CAST(UNIX_MICROS(NetworkTimestamp) AS FLOAT64) / 60000000) AS INT64) < 60
)
SELECT * FROM stage4_minutes_apart ORDER BY DeviceName IS NULL, DeviceName, NetworkTimestamp IS NULL, NetworkTimestamp, FileTimestamp IS NULL, FileTimestamp, DeviceId IS NULL, DeviceId, RemoteIP IS NULL, RemoteIP, RemotePort IS NULL, RemotePort, RemoteUrl IS NULL, RemoteUrl, InitiatingProcessId IS NULL, InitiatingProcessId, FolderPath IS NULL, FolderPath, FileName IS NULL, FileName, ReportId IS NULL, ReportId, Timestamp IS NULL, Timestamp, InitiatingProcessFileName IS NULL, InitiatingProcessFileName, Timestamp1 IS NULL, Timestamp1, DeviceId1 IS NULL, DeviceId1, DeviceName1 IS NULL, DeviceName1, ActionType IS NULL, ActionType, SHA1 IS NULL, SHA1, SHA256 IS NULL, SHA256, MD5 IS NULL, MD5, FileOriginUrl IS NULL, FileOriginUrl, FileOriginReferrerUrl IS NULL, FileOriginReferrerUrl, FileOriginIP IS NULL, FileOriginIP, PreviousFolderPath IS NULL, PreviousFolderPath, PreviousFileName IS NULL, PreviousFileName, FileSize IS NULL, FileSize, InitiatingProcessAccountDomain IS NULL, InitiatingProcessAccountDomain, InitiatingProcessAccountName IS NULL, InitiatingProcessAccountName, InitiatingProcessAccountSid IS NULL, InitiatingProcessAccountSid, InitiatingProcessAccountUpn IS NULL, InitiatingProcessAccountUpn, InitiatingProcessAccountObjectId IS NULL, InitiatingProcessAccountObjectId, InitiatingProcessMD5 IS NULL, InitiatingProcessMD5, InitiatingProcessSHA1 IS NULL, InitiatingProcessSHA1, InitiatingProcessSHA256 IS NULL, InitiatingProcessSHA256, InitiatingProcessFolderPath IS NULL, InitiatingProcessFolderPath, InitiatingProcessFileName1 IS NULL, InitiatingProcessFileName1, InitiatingProcessFileSize IS NULL, InitiatingProcessFileSize, InitiatingProcessVersionInfoCompanyName IS NULL, InitiatingProcessVersionInfoCompanyName, InitiatingProcessVersionInfoProductName IS NULL, InitiatingProcessVersionInfoProductName, InitiatingProcessVersionInfoProductVersion IS NULL, InitiatingProcessVersionInfoProductVersion, InitiatingProcessVersionInfoInternalFileName IS NULL, InitiatingProcessVersionInfoInternalFileName, InitiatingProcessVersionInfoOriginalFileName IS NULL, InitiatingProcessVersionInfoOriginalFileName, InitiatingProcessVersionInfoFileDescription IS NULL, InitiatingProcessVersionInfoFileDescription, InitiatingProcessId1 IS NULL, InitiatingProcessId1, InitiatingProcessCommandLine IS NULL, InitiatingProcessCommandLine, InitiatingProcessCreationTime IS NULL, InitiatingProcessCreationTime, InitiatingProcessIntegrityLevel IS NULL, InitiatingProcessIntegrityLevel, InitiatingProcessTokenElevation IS NULL, InitiatingProcessTokenElevation, InitiatingProcessParentId IS NULL, InitiatingProcessParentId, InitiatingProcessParentFileName IS NULL, InitiatingProcessParentFileName, InitiatingProcessParentCreationTime IS NULL, InitiatingProcessParentCreationTime, RequestProtocol IS NULL, RequestProtocol, RequestSourceIP IS NULL, RequestSourceIP, RequestSourcePort IS NULL, RequestSourcePort, RequestAccountName IS NULL, RequestAccountName, RequestAccountDomain IS NULL, RequestAccountDomain, RequestAccountSid IS NULL, RequestAccountSid, ShareName IS NULL, ShareName, SensitivityLabel IS NULL, SensitivityLabel, SensitivitySubLabel IS NULL, SensitivitySubLabel, IsAzureInfoProtectionApplied IS NULL, IsAzureInfoProtectionApplied, AppGuardContainerId IS NULL, AppGuardContainerId, AdditionalFields IS NULL, AdditionalFields, InitiatingProcessSessionId IS NULL, InitiatingProcessSessionId, IsInitiatingProcessRemoteSession IS NULL, IsInitiatingProcessRemoteSession, InitiatingProcessRemoteSessionDeviceName IS NULL, InitiatingProcessRemoteSessionDeviceName, InitiatingProcessRemoteSessionIP IS NULL, InitiatingProcessRemoteSessionIP, InitiatingProcessUniqueId IS NULL, InitiatingProcessUniqueId, LogonID IS NULL, LogonID;
