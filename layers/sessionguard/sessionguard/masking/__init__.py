"""The masker every outgoing string passes through: secrets in session text become ``[MASKED:<kind>]``.

By layer: `regex` is the RE2 wrapper (linear time, because the person in the session controls the text) and its
trigger Sets; `kinds` names every marker kind; `tokens.yaml` (read by `tokens`) holds the provider-token shapes as
data, each with examples it must and must not mask; `rules` holds the secrets known by their context (flags, pipes,
URLs, SQL, secret-named assignments) and `heuristics` what a name or a value says; `gitleaks` turns gitleaks' rule
set (`gitleaks_rules.json`, MIT) into rules and honours its allow-lists, `windows` and `kubernetes` hold Windows'
and Kubernetes Secrets' forms, `tables` the secret columns of aligned tables (Format-Table); `masker` applies them
all, line by line with per-session state (`SecretMasker`, `mask_secrets`), and `spans` merges what they found.
docs/masking.md lists every kind and what is left alone.
"""
