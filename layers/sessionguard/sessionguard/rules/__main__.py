"""`python -m sessionguard.rules docs/rules.md` regenerates the default-rules table in the given markdown file(s)."""

from sessionguard.rules.markdown import main

raise SystemExit(main())
