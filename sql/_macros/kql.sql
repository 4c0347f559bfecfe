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

{#- startswith ignores case (semantics 2); the pattern is escaped for LIKE. A prefix without letters needs no case
    folding, and the column is compared as it is (several times faster: no lower() per row). -#}
{% macro startswith_ci(col, prefix) -%}
{%- if prefix.lower() == prefix.upper() -%} ({{ col }} LIKE {{ like_prefix(prefix) }})
{%- else -%} (lower({{ col }}) LIKE {{ like_prefix(prefix | lower) }}) {%- endif -%}
{%- endmacro %}

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

{#- ---- operators the catalog's other rules use (../shared/spec/operators.md) ---- -#}

{#- Case folding for =~, in~ and has: ASCII letters only (a decision, operators.md 3); tolower() folds Unicode. -#}
{% macro fold_ascii(col) -%}
translate({{ col }}, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
{%- endmacro %}

{#- tolower(s): Unicode lower case; "" stays "". -#}
{% macro tolower(col) -%} lower({{ col }}) {%- endmacro %}

{#- s =~ "value": equal ignoring (ASCII) case. The value is a literal of the template. For an ASCII value,
    lower(s) = value is implied (a folded s equal to ASCII text is ASCII itself), and it goes first: a cheap filter
    before translate() (several times faster on large tables; the same rows). -#}
{% macro eq_ci(col, value) -%}
{%- set folded = fold(value) -%}
{%- if folded.isascii() -%} (lower({{ col }}) = {{ folded | lit }} AND {{ fold_ascii(col) }} = {{ folded | lit }})
{%- else -%} ({{ fold_ascii(col) }} = {{ folded | lit }}) {%- endif -%}
{%- endmacro %}

{#- s in~ (list parameter): in ignoring (ASCII) case; an empty list matches nothing. -#}
{% macro in_ci_list(col, list_param) -%}
{%- set values = raw(list_param) -%}
{%- if values -%} ({{ fold_ascii(col) }} IN ({{ values | map('fold') | map('lit') | join(', ') }})) {%- else -%} FALSE {%- endif -%}
{%- endmacro %}

{#- s has_any (needles): a term match (not a substring) of any needle, ignoring case (operators.md 1-2). The pattern
    is built from the values by detector/kql.py and passed as one literal; an empty list matches nothing. -#}
{% macro has_any_values(col, needles) -%}
{%- set pattern = terms_pattern(needles) -%}
{%- if pattern is none -%} FALSE {%- else -%} {{ forms.regex_search(fold_ascii(col), pattern | lit) }} {%- endif -%}
{%- endmacro %}
{% macro has_any(col, list_param) -%} {{ has_any_values(col, raw(list_param)) }} {%- endmacro %}
{% macro has(col, needle) -%} {{ has_any_values(col, [needle]) }} {%- endmacro %}

{#- set has_any (needles), on a dynamic array (a make_set result): the text searched is the array's compact JSON,
    ["a","b"], not each element (operators.md 2). -#}
{% macro set_has_any(set_col, list_param) -%} {{ has_any_values(forms.json_text(set_col), raw(list_param)) }} {%- endmacro %}

{#- datetime_diff(period, a, b): a - b in calendar boundaries crossed (floor both to the period, subtract), so
    10:00:59 -> 11:00:00 is 60 minutes (operators.md 5). Instants are UTC, so day boundaries are UTC midnights. -#}
{% macro datetime_diff(period, a, b) -%}
{%- set us = {'microsecond': 1, 'millisecond': 1000, 'second': 1000000, 'minute': 60000000,
              'hour': 3600000000, 'day': 86400000000}[period] -%}
CAST(floor(CAST({{ forms.epoch_us(a) }} AS {{ forms.type('real') }}) / {{ us }}) - floor(CAST({{ forms.epoch_us(b) }} AS {{ forms.type('real') }}) / {{ us }}) AS {{ forms.type('long') }})
{%- endmacro %}

{#- join kind=inner output columns: every left column, then every right column, a taken name getting the smallest
    free number appended (DeviceId -> DeviceId1), as Kusto names them (operators.md 6). -#}
{% macro join_select(left_alias, left_columns, right_alias, right_columns) -%}
{%- set renamed = join_names(left_columns, right_columns) -%}
{%- for col in left_columns %}{{ left_alias }}.{{ q(col) }} AS {{ q(col) }}, {% endfor -%}
{%- for col in right_columns %}{{ right_alias }}.{{ q(col) }} AS {{ q(renamed[loop.index0]) }}{{ ", " if not loop.last }}{% endfor -%}
{%- endmacro %}
