-- Stage 4 (join kind=inner (recent events) on RemoteIP): every recent event to a rare, unknown address.
{# A plain inner join: the left side has one row per RemoteIP, so each recent event gives exactly one row; the same
   address reached by two listed servers gives two rows. "" matches "" (a missing RemoteIP). Columns as Kusto's
   join names them: the left's, then every DeviceNetworkEvents column, RemoteIP taken so the right's is RemoteIP1. -#}
SELECT {{ kql.join_select('rare', ['RemoteIP', 'set_RemoteUrl', 'count_'], 'recent', table_columns('DeviceNetworkEvents')) }}
FROM {{ ref('stage3_unknown_destinations') }} AS rare
JOIN {{ ref('recent_server_connections') }} AS recent
  ON rare.RemoteIP = recent.RemoteIP
