"""The masker every outgoing string passes through: secrets in session text become ``[MASKED:<kind>]``.

`masker` holds `SecretMasker` and `mask_secrets`; docs/masking.md lists every kind and what is left alone. Pure,
and every pattern is RE2 (linear time), because the person in the session controls the text.
"""
