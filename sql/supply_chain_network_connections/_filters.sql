{#- Predicates the KQL writes out three times (ServersWithThirdPartyApps twice, baseline once).
    Written once here; the stage templates call them as `rule.<macro>`. -#}

{#- | where ActionType <> "ListeningConnectionCreated"   (case-sensitive, as KQL `<>`) -#}
{% macro action_type_kept() -%} {{ kql.not_in_list('ActionType', 'excluded_action_types') }} {%- endmacro %}

{#- | where RemoteIPType !in ("Private","Loopback")
          and (not (RemoteIPType == "FourToSixMapping" and RemoteIP startswith "::ffff:")) -#}
{% macro remote_ip_type_kept() -%}
({{ kql.not_in_list('RemoteIPType', 'excluded_ip_types') }}
    AND NOT (RemoteIPType = 'FourToSixMapping' AND {{ kql.startswith_ci('RemoteIP', '::ffff:') }}))
{%- endmacro %}

{#- The servers' outbound public events in the lookback window: ServersWithThirdPartyApps' input, in either plan. -#}
{% macro server_outbound() -%}
Timestamp > {{ kql.ago('lookback') }}
  AND {{ kql.in_set('DeviceName', 'server_list', 'DeviceName') }}
  AND {{ action_type_kept() }}
  AND {{ remote_ip_type_kept() }}
{%- endmacro %}

{#- Tuning (--trusted-urls): the URL is one of the trusted domains or under one. Domains are validated in
    detector/params.py (letters, digits, '-', '.'), so they carry no LIKE wildcard. "" is never trusted. -#}
{% macro url_trusted(col) -%}
{%- set domains = raw('trusted_urls') -%}
{%- if domains -%}
({% for d in domains %}lower({{ col }}) = {{ d | lit }} OR lower({{ col }}) LIKE {{ ('%.' ~ d) | lit }}{{ " OR " if not loop.last }}{% endfor %})
{%- else -%} FALSE {%- endif -%}
{%- endmacro %}

{#- The prevalence column the tuning needs: 1 when every event's URL to the address is trusted. -#}
{% macro urls_trusted_column() -%}
{%- if raw('trusted_urls') is not none %},
  min(CASE WHEN {{ url_trusted('RemoteUrl') }} THEN 1 ELSE 0 END) AS urls_trusted
{%- endif -%}
{%- endmacro %}

{#- Stage 8's right side: the WHOLE fleet's prevalence per address in the prevalence window (no server, ActionType
    or RemoteIPType filter: semantics 6), for the addresses in the one-column CTE `addresses`. `rows`: a relation
    of distinct (RemoteIP, DeviceId, RemoteUrl) already inside the window (the incremental plan's partial); by
    default the table's events. Distinct rows give the same counts and sets: dcount and make_set are distinct. -#}
{% macro prevalence_of(addresses, rows=none) -%}
SELECT
  RemoteIP,
  {{ kql.dcount('DeviceId') }} AS Prevalence,
  {{ kql.make_set('RemoteUrl') }} AS URLs{{ urls_trusted_column() }}
{% if rows is none -%}
FROM (
  SELECT {{ kql.columns('DeviceNetworkEvents') }}
  FROM {{ source('DeviceNetworkEvents') }}
) AS events
WHERE Timestamp > {{ kql.ago('prevalence_window') }}
  AND {{ kql.in_set('RemoteIP', addresses, 'RemoteIP') }}
{%- else -%}
FROM {{ rows }} AS events
WHERE {{ kql.in_set('RemoteIP', addresses, 'RemoteIP') }}
{%- endif %}
GROUP BY RemoteIP
{%- endmacro %}

{#- One row per device, vendor and destination of the rows `rows` that satisfy `where`: their count, first and last
    sighting. ServersWithThirdPartyApps' input in plan "fast" (021), and the per-file partial of plan
    "incremental" (partial_outbound.sql). -#}
{% macro connection_summary(rows, where) -%}
SELECT
  DeviceName,
  InitiatingProcessVersionInfoCompanyName,
  RemoteIP,
  RemotePort,
  count(*) AS events,
  min(Timestamp) AS first_seen,
  max(Timestamp) AS last_seen
FROM (
  SELECT {{ kql.columns('DeviceNetworkEvents') }}
  FROM {{ rows }}
) AS events
WHERE {{ where }}
GROUP BY DeviceName, InitiatingProcessVersionInfoCompanyName, RemoteIP, RemotePort
{%- endmacro %}
