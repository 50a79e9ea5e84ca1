"""The Session Manager preferences custom resource (Custom::SessionManagerPreferences, docs/preferences.md).

`custom_resource` takes the regional SSM-SessionManagerRunShell document over and gives it back; the SSM calls
live in `sessionguard.adapters.ssm_documents`.
"""
