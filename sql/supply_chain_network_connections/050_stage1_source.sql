-- Stage 1 (source): every network event, strings read as never-null.
SELECT {{ kql.columns('DeviceNetworkEvents') }}
FROM {{ source('DeviceNetworkEvents') }}
