-- Stage 9 (where): destinations contacted by fewer than max_prevalence devices, or never looked up.
SELECT *
FROM {{ ref('stage8_lookup') }}
WHERE Prevalence < {{ param('max_prevalence') }} OR {{ kql.isempty_number('Prevalence') }}
