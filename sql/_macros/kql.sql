{#- KQL's meaning, in one place. Every stage template reaches these as `kql.<macro>`.
    Values come in through `param()` / `lit()`, which build SQL literals with sqlglot; nothing is pasted.
    The SQL here is the same on every engine; the few forms that cannot be (sorted sets, the Details object,
    materialisation) come from `forms`, the one table of per-dialect forms in detector/dialects.py. -#}

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

{#- ago(span): one instant, `now`, for the whole query (semantics 5). The span is written in hours at most, so
    no engine adds a calendar day (23 or 25 hours across a daylight-saving change). -#}
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

{#- make_set(col) of a string column: distinct, nulls skipped, sorted in code point order so that output is
    deterministic (semantics 4). -#}
{% macro make_set(col) -%} {{ forms.sorted_set(col) }} {%- endmacro %}

{#- make_set(object) when the objects are already distinct: their list, sorted by `keys` [(column, type)], nulls
    last (semantics 4). -#}
{% macro make_list_sorted(value, keys) -%} {{ forms.sorted_list(value, keys) }} {%- endmacro %}

{#- pack('k', v, ...): an object that keeps null values (semantics 3). `fields` is [(column, Kusto type)], the
    key being the column's name; engines with typed rows need the types. -#}
{% macro pack(fields) -%} {{ forms.pack(fields) }} {%- endmacro %}

{#- A Kusto long (64-bit integer), e.g. a sum of counts: DuckDB and Postgres widen sums, BigQuery spells it INT64. -#}
{% macro to_long(expr) -%} CAST({{ expr }} AS {{ forms.type('long') }}) {%- endmacro %}

{#- materialize(...): a speed hint only (semantics 4); written where the engine accepts it. -#}
{% macro materialize() -%} {{ materialize_hint() }} {%- endmacro %}
