-- let ServersWithThirdPartyApps, its input, summarized (plan "fast"): the servers' outbound public connections
-- in the lookback window, one row per server, vendor and destination, so the table is read once for all three uses.
{# The filters are 020's, from _filters.sql. Vendor counts (030) and the join (040) need only the distinct
   (DeviceName, company) pairs, which these rows keep; the baseline (101) re-sums them for the servers in scope.
   Every other stage is unchanged: tests/test_plans.py checks both plans give the same rows. -#}
{% set hint = kql.materialize() -%}
{{ rule.connection_summary(source('DeviceNetworkEvents'), rule.server_outbound()) }}
