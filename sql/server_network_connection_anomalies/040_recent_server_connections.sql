-- Stage 4's right side: the same filters as Stage 1 over the recent window (the KQL writes them out again).
{{ rule.server_connections('recent') }}
