"""One Session Manager session, from what the SSM Agent wrote to commands, masked lines and rule alerts.

`records` reads session events in every form they arrive (docs/session-format.md); `terminal` turns Linux terminal
output back into commands and their output, `windows` does the same for PowerShell transcripts; `shell` (with
`shell_commands`) normalizes a bash command and `powershell` (with `powershell_syntax`, `powershell_commands`) a
PowerShell or cmd one, so obfuscation does not evade the rules; `engine` strings them together with the masker and
the rule pack: `SessionEvent`s in, `SanitizedLine`s and `CommandAlert`s out. Pure: no AWS calls, no I/O but what
`records.read_input` is handed.
"""
