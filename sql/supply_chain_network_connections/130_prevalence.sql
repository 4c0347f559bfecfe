-- Stage 8's right side: how many devices of the WHOLE fleet contacted each destination in the prevalence
-- window, and with which URLs. No server, ActionType or RemoteIPType filter here (semantics 6).
{{ rule.prevalence_of('destinations') }}
