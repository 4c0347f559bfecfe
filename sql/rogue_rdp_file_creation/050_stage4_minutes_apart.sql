-- Stage 4 (where datetime_diff('minute', FileTimestamp, NetworkTimestamp) < max_minutes): the pairs whose file
-- event is fewer than max_minutes minute boundaries after the connection, or before it (a negative difference).
{# datetime_diff counts boundaries crossed, not elapsed time: 10:00:59 -> 11:00:00 is 60, so it is out at 60
   though 59 minutes and 1 second passed (operators.md 5). Both timestamps passed Timestamp > ago(), never null. -#}
SELECT *
FROM {{ ref('stage3_join') }}
WHERE {{ kql.datetime_diff('minute', 'FileTimestamp', 'NetworkTimestamp') }} < {{ param('max_minutes') }}
