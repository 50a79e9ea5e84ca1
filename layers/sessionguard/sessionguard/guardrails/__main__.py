"""`python -m sessionguard.guardrails docs/guardrails.md` regenerates the guardrails table in the given file(s)."""

from sessionguard.guardrails.markdown import main

raise SystemExit(main())
