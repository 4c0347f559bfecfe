-- Stage 2 (summarize make_set(RemoteUrl), count() by RemoteIP | where count_ < max_count): the addresses the
-- servers reached fewer than max_count times, with every URL seen for them.
{# Names as Kusto gives them: set_RemoteUrl, count_. A missing RemoteIP ("") is one group like any other, and a
   missing URL is "" in the set (strings are never null; make_set keeps ""). The set is sorted (kql.make_set) so
   that output is deterministic; count() is a Kusto long. -#}
SELECT
  RemoteIP,
  {{ kql.make_set('RemoteUrl') }} AS set_RemoteUrl,
  {{ kql.to_long('count(*)') }} AS count_
FROM {{ ref('stage1_server_connections') }}
GROUP BY RemoteIP
HAVING count(*) < {{ param('max_count') }}
