-- Stage 6 (summarize), let baseline: per server and destination, how often and when first and last seen.
{# A null RemotePort is its own group, as in Kusto. materialize() and hint.strategy=shuffle change speed only. -#}
{% set hint = kql.materialize() -%}
SELECT
  DeviceName,
  RemoteIP,
  RemotePort,
  count(*) AS {{ q('Count') }},
  min(Timestamp) AS starttime,
  max(Timestamp) AS endtime
FROM {{ ref('stage5_remote_ip_type') }}
GROUP BY DeviceName, RemoteIP, RemotePort
