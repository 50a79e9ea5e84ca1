"""`python -m sessionguard.rules docs/rules.md` regenerates the default-rules table in the given markdown file(s)
and the prebuilt default pack (default_pack.json, see prebuilt.py) beside the rule files."""

from sessionguard.rules.markdown import main
from sessionguard.rules.pack import DEFAULT_RULES_DIR
from sessionguard.rules.prebuilt import write

write(DEFAULT_RULES_DIR)
raise SystemExit(main())
