-- Stage 1 (where): the listed servers' successful connections to public addresses in the lookback window.
{# The filters are _filters.sql's, shared with the join's right side (040). -#}
{{ rule.server_connections('lookback') }}
