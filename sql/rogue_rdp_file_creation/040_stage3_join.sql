-- Stage 3 (join kind=inner on InitiatingProcessFileName, DeviceId): every connection with every file event of the
-- same device (DeviceId, not DeviceName) and process; the right side's columns follow the left's, a taken name
-- numbered as Kusto does (Timestamp1, DeviceId1, DeviceName1, InitiatingProcessFileName1, InitiatingProcessId1).
{# kind=inner is a plain inner join: several connections and several files of one device give their cross
   product. "" keys match "" (semantics 1): a missing DeviceId on both sides joins. -#}
{%- set left = ['Timestamp', 'DeviceId', 'DeviceName', 'InitiatingProcessFileName', 'InitiatingProcessId',
                'RemoteIP', 'RemoteUrl', 'RemotePort', 'NetworkTimestamp'] %}
{%- set right = table_columns('DeviceFileEvents') + ['FileTimestamp'] -%}
SELECT {{ kql.join_select('connections', left, 'files', right) }}
FROM {{ ref('stage2_project') }} AS connections
JOIN {{ ref('mstsc_file_events') }} AS files
  ON connections.InitiatingProcessFileName = files.InitiatingProcessFileName
  AND connections.DeviceId = files.DeviceId
