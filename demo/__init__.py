"""`make demo`: SessionGuard's whole pipeline on an embedded AWS emulator (moto's server on a loopback port).

Development only: it needs moto and samtranslator, which the Lambda layer does not ship. docs/demo.md describes
what it shows and what the emulator cannot do.
"""
