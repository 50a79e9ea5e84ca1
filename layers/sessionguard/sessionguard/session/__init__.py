"""One Session Manager session, from what the SSM Agent wrote to commands, masked lines and rule alerts.

`records` reads session events in every form they arrive (docs/session-format.md), `terminal` turns terminal
output back into commands and their output, `shell` normalizes a command so obfuscation does not evade the rules,
and `engine` strings them together with the masker and the rule pack. Pure: no AWS calls, no I/O but what
`records.read_input` is handed.
"""
