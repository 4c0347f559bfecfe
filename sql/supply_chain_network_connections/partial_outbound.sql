-- state partial "outbound" (plan "incremental"): ServersWithThirdPartyApps' input before its server filter, per
-- source file: every device's outbound public connections, one row per device, vendor and destination.
{# The server filter (server_list) is applied after the files' summaries are combined (022), since the server list
   changes from run to run; the ActionType and RemoteIPType filters are the rule's (_filters.sql), so the state
   is kept per value of the two parameters they read (rule.toml [state.partials.outbound] params). -#}
{{ rule.connection_summary(rows, rule.action_type_kept() ~ '\n  AND ' ~ rule.remote_ip_type_kept()) }}
