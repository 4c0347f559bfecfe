-- Stage 10 (extend): pack each alerting connection into one Details object (null values are kept).
SELECT
  DeviceName,
  RemoteIP,
  RemotePort,
  {{ kql.pack([('RemoteIP', 'string'), ('RemotePort', 'int'), ('Count', 'long'), ('Prevalence', 'long'),
               ('URLs', 'set')]) }} AS Details
FROM {{ ref('stage9_rare_destinations') }}
