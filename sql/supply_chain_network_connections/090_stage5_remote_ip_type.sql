-- Stage 5 (where): drop private and loopback peers, and IPv4 addresses mapped into IPv6 (::ffff:a.b.c.d).
SELECT *
FROM {{ ref('stage4_action_type') }}
WHERE {{ rule.remote_ip_type_kept() }}
