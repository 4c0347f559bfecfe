-- Stage 9 (where): destinations contacted by fewer than max_prevalence devices, or never looked up.
SELECT *
FROM {{ ref('stage8_lookup') }}
WHERE (Prevalence < {{ param('max_prevalence') }} OR {{ kql.isempty_number('Prevalence') }})
{%- if raw('trusted_urls') is not none %}
  -- tuning (--trusted-urls): "filter out results based on trusted URLs if you like"
  AND RemoteIP NOT IN (SELECT RemoteIP FROM {{ ref('prevalence') }} WHERE urls_trusted = 1)
{%- endif %}
