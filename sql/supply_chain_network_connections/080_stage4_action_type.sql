-- Stage 4 (where): drop listening sockets (and any other excluded ActionType).
SELECT *
FROM {{ ref('stage3_third_party_servers') }}
WHERE {{ rule.action_type_kept() }}
