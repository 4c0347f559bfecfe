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
