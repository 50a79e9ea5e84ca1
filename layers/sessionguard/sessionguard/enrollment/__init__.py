"""Automatic enrollment of EC2 instances into recorded sessions (docs/enrollment.md).

`decisions` holds the pure decisions (plain data in, plain data out); `steps` is what each Lambda behind the
enrollment state machine does: read through `sessionguard.adapters.fleet`, decide, act, count.
"""
