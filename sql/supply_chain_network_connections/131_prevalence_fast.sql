-- Stage 8's right side (plan "fast"): the whole fleet's prevalence, counted only for the addresses of the new
-- connections, the only rows the lookup keeps (Destinations is their superset).
{{ rule.prevalence_of('stage7_new_connections') }}
