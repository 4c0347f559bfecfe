-- let ServersWithThirdPartyApps, its input (plan "incremental"): the servers' outbound public connections in the
-- lookback window, from the per-file summaries: one row per file, server, vendor and destination.
{# partial('outbound') is every device's rows (partial_outbound.sql) of the files inside the lookback window, plus
   the rows of the files across its edge. The vendor counts (030) and the join (040) need only the distinct
   (DeviceName, company) pairs, which these rows keep; the baseline (102) sums a connection's rows over files. -#}
{% set hint = kql.materialize() -%}
SELECT *
FROM {{ partial('outbound') }} AS outbound
WHERE {{ kql.in_set('DeviceName', 'server_list', 'DeviceName') }}
