{#- The filters the KQL writes twice, once per side of its join (Stage 1 and the join's right side), written once
    here; the stage templates call them as `rule.<macro>`. Only the window differs. -#}

{#- DeviceNetworkEvents
    | where Timestamp > ago(<window>)
    | where DeviceName in (Servers) and ActionType == "ConnectionSuccess"
    | where RemoteIPType !in ( "Private", "Loopback" )
    | where RemoteIP !startswith "169.254."
    Strings are never null (kql.columns), so a missing RemoteIPType ("") is kept by `!in` and a missing RemoteIP
    ("") by `!startswith` (operators.md 0). `in` and `==` are case-sensitive; `startswith` ignores case. The edge
    of the window is out (strict `>`), and a null Timestamp is never in it. -#}
{% macro server_connections(window) -%}
SELECT *
FROM (
  SELECT {{ kql.columns('DeviceNetworkEvents') }}
  FROM {{ source('DeviceNetworkEvents') }}
) AS events
WHERE Timestamp > {{ kql.ago(window) }}
  AND {{ kql.in_list('DeviceName', 'servers') }} AND ActionType = 'ConnectionSuccess'
  AND RemoteIPType NOT IN ('Private', 'Loopback')
  AND NOT {{ kql.startswith_ci('RemoteIP', '169.254.') }}
{%- endmacro %}
