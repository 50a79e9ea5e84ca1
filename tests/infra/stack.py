"""Translate template.yaml the way `sam deploy` does, and shape it for moto's CloudFormation.

The code lives in demo.template, which `make demo` uses to deploy the same template; these names are kept for the
infra tests.
"""

from demo.template import (
    ARTIFACT_BUCKET,
    LOCAL_CODE_PROPERTIES,
    ROOT,
    TEMPLATE,
    adapt_for_moto,
    local_code_keys,
    sam_template,
    translate,
    zip_bytes,
)

__all__ = [
    "ARTIFACT_BUCKET",
    "LOCAL_CODE_PROPERTIES",
    "ROOT",
    "TEMPLATE",
    "adapt_for_moto",
    "local_code_keys",
    "sam_template",
    "translate",
    "zip_bytes",
]
