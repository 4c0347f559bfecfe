{#- KQL's meaning, in one place. Every stage template reaches these as `kql.<macro>`.
    Values come in through `param()` / `lit()`, which build SQL literals with sqlglot; nothing is pasted. -#}

{#- Kusto has no null string: a missing string is "" (semantics 1). Every string column is read through this. -#}
{% macro str(col) -%} coalesce({{ col }}, '') {%- endmacro %}

{#- The columns a table contributes, strings read as never-null. Types come from rule.toml [tables]. -#}
{% macro columns(table) -%}
{%- for col, typ in tables[table].items() -%}
{{ str(col) if typ == 'string' else col }} AS {{ col }}{{ ",\n    " if not loop.last }}
{%- endfor -%}
{%- endmacro %}

{#- isnotempty(s): neither null nor "" (semantics 2). -#}
{% macro isnotempty(col) -%} ({{ str(col) }} <> '') {%- endmacro %}

{#- isempty() on a number: null (semantics 3). -#}
{% macro isempty_number(col) -%} ({{ col }} IS NULL) {%- endmacro %}

{#- startswith ignores case (semantics 2); the pattern is escaped for LIKE. -#}
{% macro startswith_ci(col, prefix) -%} (lower({{ col }}) LIKE {{ like_prefix(prefix | lower) }}) {%- endmacro %}

{#- ago(span): one instant, `now`, for the whole query (semantics 5). -#}
{% macro ago(span_param) -%} ({{ now }} - {{ param(span_param) }}) {%- endmacro %}

{#- in / !in against a list parameter: case-sensitive; an empty list matches nothing. -#}
{% macro in_list(col, list_param) -%}
{%- set values = raw(list_param) -%}
{%- if values -%} ({{ col }} IN ({{ values | map('lit') | join(', ') }})) {%- else -%} FALSE {%- endif -%}
{%- endmacro %}
{% macro not_in_list(col, list_param) -%} (NOT {{ in_list(col, list_param) }}) {%- endmacro %}

{#- x in (make_set(...)): the set is a one-column CTE; an empty set matches nothing (semantics 4). -#}
{% macro in_set(col, cte, set_col) -%} ({{ col }} IN (SELECT {{ set_col }} FROM {{ ref(cte) }})) {%- endmacro %}

{#- dcount: exact; "" is a value like any other (semantics 4). -#}
{% macro dcount(col) -%} count(DISTINCT {{ col }}) {%- endmacro %}

{#- make_set: distinct, nulls skipped, sorted so that output is deterministic (semantics 4). -#}
{% macro make_set(col, order_by=None) -%}
list(DISTINCT {{ col }} ORDER BY {{ order_by or col }}) FILTER (WHERE {{ col }} IS NOT NULL)
{%- endmacro %}

{#- pack(k, v, ...): an object that keeps null values (semantics 3). -#}
{% macro pack(keys) -%}
struct_pack({% for k in keys %}{{ k }} := {{ k }}{{ ", " if not loop.last }}{% endfor %})
{%- endmacro %}
