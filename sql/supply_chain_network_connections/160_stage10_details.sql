-- Stage 10 (extend): pack each alerting connection into one Details object (null values are kept).
SELECT
  DeviceName,
  RemoteIP,
  RemotePort,
  {{ kql.pack(['RemoteIP', 'RemotePort', '"Count"', 'Prevalence', 'URLs']) }} AS Details
FROM {{ ref('stage9_rare_destinations') }}
