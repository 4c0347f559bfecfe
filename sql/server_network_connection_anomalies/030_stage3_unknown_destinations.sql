-- Stage 3 (where not (set_RemoteUrl has_any (known_domains))): drop the addresses any of whose URLs is a known
-- destination.
{# has_any on a make_set result searches the set's compact JSON text, ["a","b"], for a term match of each needle,
   ignoring case (operators.md 1-2): ".microsoft.com" is found in ["www.microsoft.com"] but not in
   ["microsoft.com"] (the quote before "microsoft" is no "."), "login.live.com" is found in
   ["login.live.com.evil.net"] but not in ["xlogin.live.com"]. One known URL drops the address whatever its
   other URLs are. An empty known_domains list matches nothing: every address stays. -#}
SELECT *
FROM {{ ref('stage2_rare_addresses') }}
WHERE NOT {{ kql.set_has_any('set_RemoteUrl', 'known_domains') }}
